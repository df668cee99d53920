"""`python -m bench ask` reports dev and holdout figures separately, and says when the holdout
file is missing (a tiny made-up holdout in a temporary folder, never the real one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import ask

HOLDOUT_ROWS: list[dict[str, object]] = [
    {"q": "cach tai vneid ve dien thoai", "expect": "vneid-install", "set": "holdout"},
    {"q": "giá lúa hôm nay", "expect": None, "set": "holdout", "persona": "nông dân"},
    {
        "q": "tui lỡ đọc mã OTP cho người gọi điện xưng ngân hàng",
        "expect": "safety-act-now",
        "set": "holdout",
        "persona": "nạn nhân lừa đảo",
        "urgent": True,
    },
    {"q": "quên mật khẩu vneid", "expect": "vneid-passcode-reset", "urgent": False},
]
DEV_ROWS: list[dict[str, object]] = [
    {"q": "lam sao kich hoat vneid", "expect": "vneid-activate"},
    {"q": "thời tiết mai", "expect": None},
]


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")
    return path


def test_dev_and_holdout_are_reported_separately(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = write(tmp_path / "dev.jsonl", DEV_ROWS)
    holdout = write(tmp_path / "holdout.jsonl", HOLDOUT_ROWS)
    assert ask.main(["--eval", str(dev), "--holdout", str(holdout)]) == 0
    out = capsys.readouterr().out
    assert "dev: 1 in scope, 1 out of scope, 0 urgent, 2 not urgent" in out
    assert "holdout: 3 in scope, 1 out of scope, 1 urgent, 3 not urgent" in out
    holdout_part = out.split("holdout:")[1]
    search_row = next(line for line in holdout_part.splitlines() if line.startswith("guide search"))
    figures = search_row.split()
    # top-1, no-marks, refused, p50, p95, urgent recall, false alarms
    assert figures[2] == "100.0%"  # the three in-scope questions
    assert figures[4] == "100.0%"  # the weather question refused
    assert figures[7] == "100.0%"  # the OTP question flagged urgent
    assert figures[8] == "0.0%"  # no false alarm


def test_a_missing_holdout_is_named_and_dev_is_still_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = write(tmp_path / "dev.jsonl", DEV_ROWS)
    missing = tmp_path / "nowhere.jsonl"
    assert ask.main(["--eval", str(dev), "--holdout", str(missing)]) == 0
    out = capsys.readouterr().out
    assert f"holdout set missing: {missing}" in out
    assert "dev: 1 in scope" in out
    assert "\nholdout:" not in out


def test_a_broken_row_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "ok", "expect": null}\n{"q": "no expect"}\n', "utf-8")
    with pytest.raises(SystemExit, match="bad.jsonl:2"):
        ask.load_cases(bad)
