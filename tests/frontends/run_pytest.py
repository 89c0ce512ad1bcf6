#!/usr/bin/env python3
"""Run pytest on test files the way ctest needs: exit 77 (skipped) when
pytest is not installed or every test was skipped, pytest's own status
otherwise (a run that collects nothing is a failure, not a pass).

Usage: run_pytest.py FILE...
"""
import sys

try:
    import pytest
except ImportError:
    print("SKIP: pytest is not installed for this python3 (apt-get install python3-pytest)")
    sys.exit(77)


class Outcomes:
    """How many tests passed and were skipped (a skip is reported at setup
    as often as in the call)."""

    def __init__(self):
        self.passed = self.skipped = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed:
            self.passed += 1
        elif report.skipped:
            self.skipped += 1


def main():
    seen = Outcomes()
    rc = pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]], plugins=[seen])
    if rc == 0 and seen.passed == 0:
        print(f"SKIP: no test ran ({seen.skipped} skipped)")
        return 77
    return int(rc)


if __name__ == "__main__":
    sys.exit(main())
