"""Browser checks of the numbered chapters' pages (the checks: ``site_checks.py``)."""

from __future__ import annotations

import pytest
from site_checks import chapter_pages, check_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("rel", chapter_pages() or ["(site not built)"])
def test_page(rel, site_url, browser, screenshots) -> None:
    check_page(rel, site_url, browser, screenshots)
