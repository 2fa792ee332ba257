"""Regenerate the README's screenshots of the statement from a report page.

    python docs/screenshots.py var/reports/reconciliation-<date>.html

Writes docs/statement-desktop.png (1440 px wide), docs/statement-phone.png (a 390 px wide
viewport, framed: headless Chromium will not make a window narrower than 500 px) and
docs/statement-paper.png (page 1 of the page printed to PDF). Needs chromium and pdftoppm;
pngquant, where installed, makes the pictures small enough for the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ONLY_STATEMENTS = "<style>section:not(#statements), nav { display: none !important; }</style>"


def chromium(profile: Path, *args: str) -> None:
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={profile}", "--allow-file-access-from-files", *args],
                   check=True, capture_output=True, timeout=120)


def main() -> None:
    report = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as work:
        tmp = Path(work)
        page = tmp / "statements.html"
        page.write_text(report.read_text(encoding="utf-8").replace(
            "</head>", ONLY_STATEMENTS + "</head>", 1), encoding="utf-8")
        chromium(tmp / "p1", "--window-size=1440,1000",
                 f"--screenshot={DOCS / 'statement-desktop.png'}", page.as_uri())
        frame = tmp / "phone.html"
        frame.write_text('<body style="margin:0;background:#c8ccd0"><iframe src="statements.html"'
                         ' style="width:390px;height:1250px;border:0;background:#fff">'
                         "</iframe></body>", encoding="utf-8")
        chromium(tmp / "p2", "--window-size=500,1250",
                 f"--screenshot={DOCS / 'statement-phone.png'}", frame.as_uri())
        pdf = tmp / "report.pdf"
        chromium(tmp / "p3", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", report.as_uri())
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-singlefile", "-f", "1", "-l", "1",
                        str(pdf), str(DOCS / "statement-paper")], check=True)
    if shutil.which("pngquant"):
        for name in ("statement-desktop.png", "statement-phone.png", "statement-paper.png"):
            subprocess.run(["pngquant", "--force", "--quality=70-90", "--output",
                            str(DOCS / name), str(DOCS / name)], check=True)


if __name__ == "__main__":
    main()
