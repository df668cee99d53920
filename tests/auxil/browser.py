"""A real headless browser for end-to-end tests: Debian's chromium and chromedriver, driven by
Selenium. When they are missing, the project's test set-up installs them (apt-get, as root);
only when that is impossible is the test skipped, with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGES = ("chromium", "chromium-driver")
CANDIDATES = {
    "browser": ("chromium", "chromium-browser"),
    "driver": ("chromedriver",),
}
INSTALL_TIMEOUT = 900


def _find() -> dict[str, str] | None:
    found = {}
    for what, names in CANDIDATES.items():
        path = next((p for p in map(shutil.which, names) if p), None)
        if path is None:
            return None
        found[what] = path
    return found


def _install() -> str | None:
    """Install Debian's chromium and its driver; the reason it could not, or None."""
    if shutil.which("apt-get") is None:
        return "chromium is not installed and this machine has no apt-get"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "chromium is not installed and installing it needs root (apt-get install -y chromium chromium-driver)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", *PACKAGES],
    ):
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{' '.join(command)} failed: {error}"
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}"
    return None


def chromium() -> dict[str, str]:
    """Paths of chromium and chromedriver, installing them first if needed (else skip)."""
    found = _find()
    if found is None:
        reason = _install()
        found = _find()
        if found is None:
            pytest.skip(reason or "chromium could not be installed")
    return found


def driver(paths: dict[str, str], downloads: Path, *, width: int = 390, height: int = 844):  # type: ignore[no-untyped-def]
    """A headless Chromium the size of a phone, saving downloads to `downloads`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths["browser"]
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--lang=vi-VN",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    return webdriver.Chrome(service=Service(executable_path=paths["driver"]), options=options)
