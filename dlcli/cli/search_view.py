"""The live view of a search: a line per finished trial; on a terminal also a status line with
counts and the best so far."""
from __future__ import annotations

from typing import Any

from rich.table import Table

from dlcli.report.console import console, fmt_value

FINAL = ("COMPLETE", "PRUNED", "FAIL")


class SearchView:
    def __init__(self, names: list[str], quiet: bool = False):
        self.names, self.quiet, self.seen = names, quiet, set()
        self.con = console()
        self.status = self.con.status("starting trials") if not quiet and self.con.is_terminal else None
        if self.status is not None:
            self.status.start()

    def __call__(self, study: Any) -> None:
        if self.quiet:
            return
        trials = study.get_trials(deepcopy=False)
        for t in trials:
            if t.state.name in FINAL and t.number not in self.seen:
                self.seen.add(t.number)
                self.con.print(self.line(t), soft_wrap=True, highlight=False)
        if self.status is not None:
            self.status.update(self.counts(trials) + self.best(study))

    def line(self, t: Any) -> str:
        state = t.state.name.lower()
        if state == "complete":
            what = "  ".join(f"{n} {fmt_value(v)}" for n, v in zip(self.names, t.values))
        else:
            what = t.user_attrs.get("stop_reason") or t.user_attrs.get("error") or ""
        params = ", ".join(f"{k}={fmt_value(v)}" for k, v in t.params.items())
        return f"trial {t.number} {state}  {what}  ({params})"

    @staticmethod
    def counts(trials: list) -> str:
        names = ("COMPLETE", "PRUNED", "FAIL", "RUNNING")
        return " · ".join(f"{n.lower()} {sum(1 for t in trials if t.state.name == n)}" for n in names)

    def best(self, study: Any) -> str:
        from dlcli.search.leaderboard import best_trials

        best = best_trials(study)
        if len(best) != 1:
            return f" · pareto front {len(best)}" if best else ""
        return f" · best {self.names[0]} {fmt_value(best[0].values[0])} (trial {best[0].number})"

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def leaderboard_table(summary: dict, top: int = 10) -> Table:
    """The best finished trials; when none finished well, the failed ones with their reasons."""
    rows = [r for r in summary["leaderboard"] if r["state"] in ("complete", "pruned")][:top]
    notes = [] if rows else ["note"]
    rows = rows or [r for r in summary["leaderboard"] if r["state"] == "fail"][:top]
    table = Table(title=f"study {summary['study']}: {summary['counts']['complete']} complete, "
                        f"{summary['counts']['pruned']} pruned, {summary['counts']['fail']} failed")
    params = [k for k in (rows[0] if rows else {}) if k not in
              ("trial", "state", "epochs", "seconds", "note", "run", *summary["objectives"])]
    columns = ["trial", "state", *summary["objectives"], "epochs", *params, *notes]
    for col in columns:
        table.add_column(col, justify="left" if col in ("state", "note") else "right")
    for r in rows:
        table.add_row(*[fmt_value(r.get(c)) if r.get(c) is not None else "" for c in columns])
    return table
