"""Benchmarks: each prints figures; none is a test. `python -m bench NAME`.

`bench.fake_telegram` is the fake Telegram Bot API server that benchmarks and tests share.
"""
