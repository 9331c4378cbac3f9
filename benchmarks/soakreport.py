"""The markdown report of ``benchmarks/soak.py``: figures, phases and the RSS curve."""

from __future__ import annotations

from typing import Any

MIB, KIB = 1 << 20, 1 << 10
CURVE_ROWS = 30


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def curve(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most ``CURVE_ROWS`` samples: evenly over time, plus each phase's first and last."""
    if len(samples) <= CURVE_ROWS:
        return samples
    keep = {0, len(samples) - 1}
    for i in range(1, len(samples)):
        if samples[i]["phase"] != samples[i - 1]["phase"]:
            keep.update((i - 1, i))
    step = max(1, len(samples) // (CURVE_ROWS - len(keep) + 1))
    keep.update(range(0, len(samples), step))
    return [samples[i] for i in sorted(keep)]


def report(r: dict[str, Any]) -> str:
    n, before, held, after = r["connections"], r["before"], r["held"], r["after"]
    opened = r["opened"]
    open_phase = r["phases"]["open"]
    pub = r["published"]
    figures = [
        ["runner (server command)", f"{r['runner']} (`{r['command']}`)"],
        ["connections open / asked", f"{opened:,} / {n:,}"],
        ["source addresses", ", ".join(a for addrs in r["source_addresses"] for a in addrs)],
        [
            "open: time, rate",
            f"{open_phase['wall_s']:.1f} s, "
            f"{opened / max(open_phase['wall_s'], 1e-9):,.0f} handshakes/s "
            f"(retries {open_phase['retries']})",
        ],
        [
            "open: handshake p99 (client side, 64 at once per process)",
            f"{open_phase['handshake_p99_ms']:.1f} ms",
        ],
        [
            "server RSS before / N open / after warm-up / after exchange / after close",
            " / ".join(
                f"{r[k] / MIB:.1f} MiB"
                for k in ("rss_before", "rss_open", "rss_warm", "rss_exchange", "rss_after")
            ),
        ],
        [
            "**RSS per connection** (idle after handshake / after warm-up)",
            f"{r['rss_per_conn_open'] / KIB:.2f} KiB / "
            f"**{r['rss_per_conn_warm'] / KIB:.2f} KiB** (aim <= 10 KiB)",
        ],
        [
            "tasks before / held / after",
            f"{before['tasks']} / {held['tasks']:,} / {after['tasks']} "
            f"({(held['tasks'] - before['tasks']) / max(opened, 1):.2f} per connection)",
        ],
        ["fds before / held / after", f"{before['fds']} / {held['fds']:,} / {after['fds']}"],
        ["room members held / after", f"{held['members']:,} / {after['members']}"],
        [
            "messages sent / echoed / **lost** / mismatched",
            f"{r['sent']:,} / {r['echoed']:,} / **{r['lost']}** / {r['mismatched']}",
        ],
        ["connections ended early", r["ended_early"]],
        [
            "probe handshakes while held: count, p50 / **p99** / max",
            f"{len(r['probe_ms'])} ({r['probe_failed']} failed): {r['probe_p50_ms']:.2f} / "
            f"**{r['probe_p99_ms']:.2f}** / {r['probe_max_ms']:.2f} ms",
        ],
        [
            "broadcast: receivers",
            f"**{r['receivers']:,} / {n:,}** (room count at publish {pub['members']:,})",
        ],
        ["broadcast: `publish` returned after", f"{pub['publish_ns'] / 1e6:.1f} ms"],
        [
            "broadcast: **time to reach all** (last arrival) / p50 / p99",
            f"**{r['broadcast_last_ms']:.1f} ms** / {r['broadcast_p50_ms']:.1f} / "
            f"{r['broadcast_p99_ms']:.1f} ms",
        ],
        ["closed cleanly (1000 both ways)", f"{r['closed_clean']:,} / {n:,}"],
        ["tasks and fds back after", f"{r['settle_s']:.1f} s"],
        ["verdict", "ok" if not r["problems"] else "FAILED: " + "; ".join(r["problems"])],
    ]
    phases = [
        [
            name,
            f"{p['wall_s']:.1f}",
            f"{p['cpu_s']:.2f}",
            f"{p['sys_s']:.2f}",
            f"{p['gc_s']:.2f} ({p['gc_gen2']})",
            f"{p['cpu_s'] / p['wall_s'] * 100:.0f}%" if p["wall_s"] else "-",
        ]
        for name, p in r["phases"].items()
    ]
    head = ["phase", "wall s", "server CPU s", "of which kernel", "of which GC (full GCs)", "CPU"]
    base_rss, base_fds = r["rss_before"], r["samples"][0]["fds"]
    most = max(s["fds"] - base_fds for s in r["samples"])
    rows = []
    for s in curve(r["samples"]):
        conns = s["fds"] - base_fds
        # per connection only while (nearly) all are open, not while they come and go
        per = (s["rss"] - base_rss) / conns / KIB if conns >= 0.9 * most > 0 else None
        rows.append(
            [
                f"{s['t']:.0f}",
                s["phase"],
                f"{conns:,}",
                f"{s['rss'] / MIB:.1f}",
                f"{per:.2f}" if per is not None else "-",
            ]
        )
    return "\n\n".join(
        [
            f"### Soak: {n:,} connections, {r['runner']}, {r['args']['minutes']:g} min",
            _table(["figure", "value"], figures),
            "Server CPU per phase:\n\n" + _table(head, phases),
            "Server RSS over time (connections = open fds above the baseline):\n\n"
            + _table(["t s", "phase", "connections", "RSS MiB", "KiB per connection"], rows),
        ]
    )
