"""Score recon's output against a bankworld truth.

    python -m tests.bankworld.score WORLD_DIR RESULT_DIR [--json FILE] [--examples N]

``RESULT_DIR`` holds ``matches.csv`` and ``discrepancies.csv`` as ``recon match`` writes them;
from Python, :func:`prediction_from_result` takes the engine's ``MatchResult`` instead.

The figures:

- a *link* is one (bank transaction, ledger entry) pair; a group of one deposit and 300 sales is
  300 links. ``precision``: the share of recon's links (any status) that are true links;
  ``recall``: the share of true links recon made, matched or suggested; ``auto_precision`` /
  ``auto_recall``: the same for auto-confirmed links (``matched``, ``matched_with_difference``).
- A duplicate copy stands for its original, and a row stands for any row that nothing in the
  files tells apart from it (``truth_same.csv``: two identical subscription charges, two bank fee
  lines of one day): linking one instead of the other is right; linking both where the truth
  has one link is one right and one wrong link.
- Per pattern and per family: the shares of true links auto-confirmed / suggested / missed, how
  many wrong auto-confirmed links touch the pattern's rows, and for groups (one row linked to
  several) the share of groups found whole.
- Expected open items (an outstanding check, a bank fee, a duplicate copy, an amount mismatch,
  a pending row...): ``right_kind`` is the share reported as a discrepancy of the expected kind
  (for a duplicate, either twin; for a mismatch, the pair), ``kept_out`` the share that no
  auto-confirmed link uses (for a mismatch: neither side; for a duplicate: not both twins).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from recon.frames import MatchResult
from recon.reporting.text import FORMULA_TRIGGERS

CONFIRMED = frozenset({"matched", "matched_with_difference"})
_SEP = "\x1f"


@dataclass(frozen=True)
class Truth:
    links: pd.DataFrame  # bank_transaction_id, ledger_entry_id, pattern, family, truncated
    opens: pd.DataFrame  # bank_transaction_id, ledger_entry_id, side, kind, pattern, family...
    same: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["side", "id", "same_as"]))  # interchangeable rows


@dataclass(frozen=True)
class Prediction:
    links: pd.DataFrame  # bank_transaction_id, ledger_entry_id, status
    discrepancies: pd.DataFrame  # kind, side, bank_transaction_id, ledger_entry_id


@dataclass
class Score:
    overall: dict[str, Any]
    patterns: pd.DataFrame  # per link pattern
    families: pd.DataFrame  # per link family
    opens: pd.DataFrame  # per open-item pattern
    examples: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
            return {str(k): {c: _plain(v) for c, v in row.items()}
                    for k, row in frame.to_dict(orient="index").items()}

        return {"overall": {k: _plain(v) for k, v in self.overall.items()},
                "patterns": records(self.patterns), "families": records(self.families),
                "opens": records(self.opens), "examples": self.examples}


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value


def _text_frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_truth(folder: Path) -> Truth:
    links = _text_frame(folder / "truth_links.csv")
    links["truncated"] = links["truncated"].astype(int)
    return Truth(links, _text_frame(folder / "truth_open.csv"),
                 _text_frame(folder / "truth_same.csv"))


def prediction_from_result(result: MatchResult) -> Prediction:
    links = result.links[["bank_transaction_id", "ledger_entry_id", "status"]].astype(str)
    discrepancies = result.discrepancies[
        ["kind", "side", "bank_transaction_id", "ledger_entry_id"]].astype(str)
    return Prediction(links.reset_index(drop=True), discrepancies.reset_index(drop=True))


def _unguard(series: pd.Series) -> pd.Series:
    """Undo the CSV formula guard (a leading ' before =, +, -, @...)."""
    guarded = series.str.startswith("'") & series.str[1:2].isin(FORMULA_TRIGGERS)
    return series.where(~guarded, series.str[1:])


def prediction_from_files(folder: Path) -> Prediction:
    """matches.csv and discrepancies.csv as ``recon match`` writes them."""
    links = _text_frame(folder / "matches.csv")[
        ["bank_transaction_id", "ledger_entry_id", "status"]]
    discrepancies = _text_frame(folder / "discrepancies.csv")[
        ["kind", "side", "bank_transaction_id", "ledger_entry_id"]]
    for frame in (links, discrepancies):
        for column in ("bank_transaction_id", "ledger_entry_id"):
            frame[column] = _unguard(frame[column])
    return Prediction(links, discrepancies)


def truth_as_prediction(truth: Truth) -> Prediction:
    """A perfect result: every true link matched, every open item of its expected kind."""
    links = truth.links[["bank_transaction_id", "ledger_entry_id"]].copy()
    links["status"] = "matched"
    discrepancies = truth.opens[["kind", "side", "bank_transaction_id", "ledger_entry_id"]]
    return Prediction(links, discrepancies.copy())


def _keys(bank: pd.Series, ledger: pd.Series) -> pd.Series:
    return bank.astype(str) + _SEP + ledger.astype(str)


def _canonical_maps(truth: Truth) -> dict[str, dict[str, str]]:
    """Per side: id -> the id its class stands under. A class joins a duplicate copy with its
    original and rows that nothing in the files tells apart (a small union-find)."""
    maps: dict[str, dict[str, str]] = {}
    for side, column in (("bank", "bank_transaction_id"), ("ledger", "ledger_entry_id")):
        rows = truth.opens[(truth.opens["side"] == side) & (truth.opens["twin_of"] != "")]
        same_rows = truth.same[truth.same["side"] == side]
        parent: dict[str, str] = {}

        def find(x: str, parent: dict[str, str] = parent) -> str:
            while parent.get(x, x) != x:
                x = parent[x]
            return x

        for a, b in [*zip(rows[column], rows["twin_of"], strict=True),
                     *zip(same_rows["id"], same_rows["same_as"], strict=True)]:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        maps[side] = {x: find(x) for x in parent}
    return maps


def _canonical(ids: pd.Series, mapping: dict[str, str]) -> pd.Series:
    if not mapping:
        return ids.astype(str)
    mapped = ids.map(mapping)
    return mapped.where(mapped.notna(), ids).astype(str)


def score(truth: Truth, prediction: Prediction, *, bank: pd.DataFrame | None = None,
          ledger: pd.DataFrame | None = None, examples: int = 3) -> Score:
    """Compare a prediction with the truth. ``bank``/``ledger`` (recon's frames) only add
    texts and amounts to the examples."""
    tl, to = truth.links, truth.opens
    canon = _canonical_maps(truth)
    pl = prediction.links.copy()
    pl["confirmed"] = pl["status"].isin(CONFIRMED)
    pl["key"] = _keys(_canonical(pl["bank_transaction_id"], canon["bank"]),
                      _canonical(pl["ledger_entry_id"], canon["ledger"]))
    truth_keys = _keys(_canonical(tl["bank_transaction_id"], canon["bank"]),
                       _canonical(tl["ledger_entry_id"], canon["ledger"]))
    truth_count = truth_keys.value_counts()
    # Links are counted as multisets of (stand-for bank, stand-for ledger) pairs: as many
    # links of a pair are right as the truth has, confirmed ones first.
    pl = pl.sort_values("confirmed", ascending=False, kind="stable")
    rank = pl.groupby("key").cumcount()
    pl["correct"] = rank < pl["key"].map(truth_count).fillna(0)
    truth_rank = truth_keys.groupby(truth_keys).cumcount()
    confirmed_n = truth_keys.map(pl.loc[pl["confirmed"], "key"].value_counts()).fillna(0)
    any_n = truth_keys.map(pl["key"].value_counts()).fillna(0)
    outcome = pd.Series("missed", index=tl.index)
    outcome[truth_rank < any_n] = "suggested"
    outcome[truth_rank < confirmed_n] = "auto"

    n_pred = len(pl)
    n_conf = int(pl["confirmed"].sum())
    wrong_auto = pl[pl["confirmed"] & ~pl["correct"]]
    overall: dict[str, Any] = {
        "true_links": len(tl), "links": n_pred, "auto_links": n_conf,
        "precision": _ratio(int(pl["correct"].sum()), n_pred),
        "recall": _ratio(int((outcome != "missed").sum()), len(tl)),
        "auto_precision": _ratio(int((pl["correct"] & pl["confirmed"]).sum()), n_conf),
        "auto_recall": _ratio(int((outcome == "auto").sum()), len(tl)),
        "wrong_auto_links": len(wrong_auto),
        "truncated_recall": _ratio(int(((outcome != "missed") & (tl["truncated"] == 1)).sum()),
                                   int((tl["truncated"] == 1).sum())),
    }
    # Processor payouts and payroll batches are most links of a big world; the rest, alone:
    rest = ~tl["family"].isin(["payout", "batch"])
    overall["recall_outside_payouts"] = _ratio(int(((outcome != "missed") & rest).sum()),
                                               int(rest.sum()))

    # Which pattern each row belongs to, to say whom a wrong link hurts.
    row_pattern: dict[str, str] = {}
    for column in ("bank_transaction_id", "ledger_entry_id"):
        for frame in (to, tl):
            ids = frame[column]
            row_pattern.update((i, p) for i, p in zip(ids, frame["pattern"], strict=True) if i)
    hurt: dict[str, int] = {}
    for bank_id, ledger_id in zip(wrong_auto["bank_transaction_id"],
                                  wrong_auto["ledger_entry_id"], strict=True):
        for pattern in {row_pattern.get(bank_id), row_pattern.get(ledger_id)} - {None}:
            hurt[str(pattern)] = hurt.get(str(pattern), 0) + 1

    frame = tl.assign(outcome=outcome.to_numpy(), group=_groups(tl))
    patterns = _link_table(frame, "pattern", hurt)
    family_of = dict(zip(tl["pattern"], tl["family"], strict=True))
    family_hurt: dict[str, int] = {}
    for pattern, count in hurt.items():
        family = family_of.get(pattern) or _open_family(to, pattern)
        family_hurt[family] = family_hurt.get(family, 0) + count
    families = _link_table(frame, "family", family_hurt)

    opens = _open_table(truth, prediction, pl, canon)
    overall["expected_open"] = len(to)
    overall["open_right_kind"] = _ratio(int(opens["right_kind_n"].sum()), len(to))
    overall["open_kept_out"] = _ratio(int(opens["kept_out_n"].sum()), len(to))
    opens = opens.drop(columns=["right_kind_n", "kept_out_n"])

    found = _examples(frame, wrong_auto, tl, to, bank, ledger, examples)
    return Score(overall, patterns, families, opens, found)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def _open_family(opens: pd.DataFrame, pattern: str) -> str:
    rows = opens.loc[opens["pattern"] == pattern, "family"]
    return str(rows.iloc[0]) if len(rows) else "other"


def _groups(tl: pd.DataFrame) -> pd.Series:
    """A group key per true link: its bank row when that row has several links, else its
    ledger row when that has several, else "" (a one-to-one link)."""
    bank_n = tl.groupby("bank_transaction_id")["ledger_entry_id"].transform("size")
    ledger_n = tl.groupby("ledger_entry_id")["bank_transaction_id"].transform("size")
    group = pd.Series("", index=tl.index, dtype=object)
    group = group.where(~(ledger_n > 1), "l" + tl["ledger_entry_id"])
    return group.where(~(bank_n > 1), "b" + tl["bank_transaction_id"])


def _link_table(frame: pd.DataFrame, by: str, hurt: dict[str, int]) -> pd.DataFrame:
    rows = {}
    for name, part in frame.groupby(by, sort=True):
        grouped = part[part["group"] != ""]
        whole = 0
        if len(grouped):
            whole = int(grouped.groupby("group")["outcome"].agg(
                lambda o: bool((o != "missed").all())).sum())
        groups = int(grouped["group"].nunique())
        rows[str(name)] = {
            "links": len(part),
            "auto": (part["outcome"] == "auto").mean(),
            "suggested": (part["outcome"] == "suggested").mean(),
            "missed": (part["outcome"] == "missed").mean(),
            "wrong_auto": hurt.get(str(name), 0),
            "groups": groups,
            "groups_whole": whole / groups if groups else float("nan"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _open_table(truth: Truth, prediction: Prediction, pl: pd.DataFrame,
                canon: dict[str, dict[str, str]]) -> pd.DataFrame:
    to, d = truth.opens, prediction.discrepancies

    def ids(values: pd.Series, side: str) -> list[str]:
        return _canonical(values, canon[side]).tolist()

    d_bank, d_ledger = ids(d["bank_transaction_id"], "bank"), ids(d["ledger_entry_id"], "ledger")
    by_bank = set(zip(d["kind"], d_bank, strict=True))
    by_ledger = set(zip(d["kind"], d_ledger, strict=True))
    by_pair = set(zip(d["kind"], d_bank, d_ledger, strict=True))
    # An item is kept out when its class of interchangeable rows has no more rows in auto
    # links than the truth links.
    over: dict[str, set[str]] = {}
    conf = pl[pl["confirmed"]]
    for side, column in (("bank", "bank_transaction_id"), ("ledger", "ledger_entry_id")):
        used = Counter(ids(pd.Series(sorted(set(conf[column]))), side))
        true = Counter(ids(pd.Series(sorted(set(truth.links[column]))), side))
        over[side] = {c for c, n in used.items() if n > true.get(c, 0)}
    right, kept = [], []
    for bank_id, ledger_id, side, kind in zip(
            ids(to["bank_transaction_id"], "bank"), ids(to["ledger_entry_id"], "ledger"),
            to["side"], to["kind"], strict=True):
        if side == "both":
            right.append((kind, bank_id, ledger_id) in by_pair)
            kept.append(bank_id not in over["bank"] and ledger_id not in over["ledger"])
        elif side == "bank":
            right.append((kind, bank_id) in by_bank)
            kept.append(bank_id not in over["bank"])
        else:
            right.append((kind, ledger_id) in by_ledger)
            kept.append(ledger_id not in over["ledger"])
    frame = to.assign(right=right, kept=kept)
    rows = {}
    for pattern, part in frame.groupby("pattern", sort=True):
        rows[str(pattern)] = {"items": len(part), "kind": str(part["kind"].iloc[0]),
                              "right_kind": part["right"].mean(), "kept_out": part["kept"].mean(),
                              "right_kind_n": int(part["right"].sum()),
                              "kept_out_n": int(part["kept"].sum())}
    columns = ["items", "kind", "right_kind", "kept_out", "right_kind_n", "kept_out_n"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def _lookup(frame: pd.DataFrame | None, id_column: str, ids: set[str]) -> dict[str, str]:
    """id -> a one-line description (date, amount, texts) of the rows among ``ids``."""
    if frame is None or not ids:
        return {}
    rows = frame[frame[id_column].isin(ids)]
    found = {}
    for row in rows.to_dict(orient="records"):
        date = pd.Timestamp(row["date"]).date().isoformat()
        extra = f" ref={row['reference']!r}" if row.get("reference") else ""
        found[str(row[id_column])] = (
            f"{row[id_column]} {date} {int(row['amount_minor']):+d} {row['currency']} "
            f"{row['description']!r} cp={row['counterparty']!r}{extra}")
    return found


def _examples(frame: pd.DataFrame, wrong_auto: pd.DataFrame, tl: pd.DataFrame,
              to: pd.DataFrame, bank: pd.DataFrame | None, ledger: pd.DataFrame | None,
              count: int) -> dict[str, list[str]]:
    if count <= 0:
        return {}
    missed = frame[frame["outcome"] == "missed"].groupby("pattern", sort=True).head(count)
    wrong = wrong_auto.head(count)
    partner = dict(zip(tl["bank_transaction_id"], tl["ledger_entry_id"], strict=True))
    open_of = dict(zip(to["bank_transaction_id"], to["pattern"], strict=True))
    bank_ids = set(missed["bank_transaction_id"]) | set(wrong["bank_transaction_id"])
    ledger_ids = (set(missed["ledger_entry_id"]) | set(wrong["ledger_entry_id"])
                  | {partner[b] for b in wrong["bank_transaction_id"] if b in partner})
    shown_bank = _lookup(bank, "transaction_id", bank_ids)
    shown_ledger = _lookup(ledger, "entry_id", ledger_ids)
    found: dict[str, list[str]] = {}
    for pattern, part in missed.groupby("pattern", sort=True):
        found[f"missed {pattern}"] = [
            f"bank {shown_bank.get(b, b)}\n      ledger {shown_ledger.get(l_, l_)}"
            for b, l_ in zip(part["bank_transaction_id"], part["ledger_entry_id"], strict=True)]
    lines = []
    for b, l_ in zip(wrong["bank_transaction_id"], wrong["ledger_entry_id"], strict=True):
        truly = (shown_ledger.get(partner[b], partner[b]) if b in partner
                 else f"nothing (expected open: {open_of.get(b, '?')})")
        lines.append(f"bank {shown_bank.get(b, b)}\n      linked to "
                     f"{shown_ledger.get(l_, l_)}\n      truly belongs to {truly}")
    if lines:
        found["wrong auto-confirmed links"] = lines
    return found


def report(result: Score, title: str = "") -> str:
    """The figures as text tables."""
    o = result.overall
    out = [title] if title else []
    out.append(f"links: precision {o['precision']:.4f}  recall {o['recall']:.4f}  auto precision "
               f"{o['auto_precision']:.4f}  auto recall {o['auto_recall']:.4f}  "
               f"(true {o['true_links']:,}, made {o['links']:,}, auto {o['auto_links']:,}, "
               f"wrong auto {o['wrong_auto_links']:,}; truncated texts recall "
               f"{o['truncated_recall']:.4f}; outside payouts and payroll batches "
               f"{o['recall_outside_payouts']:.4f})")
    out.append(f"expected open items: {o['expected_open']:,}; reported with the right kind "
               f"{o['open_right_kind']:.4f}, kept out of auto links {o['open_kept_out']:.4f}")
    for title_, table in (("per family", result.families), ("per pattern", result.patterns)):
        out.append(f"\n{title_:<24} {'links':>8} {'auto':>6} {'sugg':>6} {'missed':>6} "
                   f"{'wrong':>6} {'groups':>7} {'whole':>6}")
        for name, row in table.iterrows():
            whole = "" if pd.isna(row["groups_whole"]) else f"{row['groups_whole']:.3f}"
            groups = int(row["groups"]) if row["groups"] else ""
            out.append(f"{name:<24} {int(row['links']):>8,} {row['auto']:>6.3f} "
                       f"{row['suggested']:>6.3f} {row['missed']:>6.3f} "
                       f"{int(row['wrong_auto']):>6,} {groups!s:>7} {whole:>6}")
    out.append(f"\n{'open items':<24} {'items':>8} {'expected kind':<19} {'right':>6} "
               f"{'kept':>6}")
    for name, row in result.opens.iterrows():
        out.append(f"{name:<24} {int(row['items']):>8,} {row['kind']:<19} "
                   f"{row['right_kind']:>6.3f} {row['kept_out']:>6.3f}")
    for name, lines in result.examples.items():
        out.append(f"\n{name}:")
        out.extend(f"  - {line}" for line in lines)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("world", type=Path, help="folder with truth_links.csv, truth_open.csv")
    parser.add_argument("result", type=Path, help="folder with matches.csv, discrepancies.csv")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--examples", type=int, default=3)
    args = parser.parse_args(argv)
    result = score(load_truth(args.world), prediction_from_files(args.result),
                   examples=args.examples)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
