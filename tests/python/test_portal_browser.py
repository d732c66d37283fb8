"""The example portal in a real browser: Debian's Chromium, headless, driven by Selenium through
Debian's chromedriver, against the portal served over loopback on the embedded simulator.

Screenshots of each step are kept in $RELAYLINK_ARTIFACTS/portal (default build/test-artifacts/portal).
Without Chromium these tests are skipped, unless RELAYLINK_REQUIRE_BROWSER=1 (what scripts/test.sh
sets), where a missing browser is a failure.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

import conftest
import portal_helpers as ph
from portal_helpers import CLINIC, EUI, FLAT_1A, FLAT_2B, FLAT_3A

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = conftest.ARTIFACTS / "portal"  # emptied at the start of each run (conftest.pytest_sessionstart)

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    missing = "" if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER) else \
        "Debian's chromium and chromium-driver are not installed"
except ImportError:
    missing = "selenium is not installed (pip install selenium)"

if missing:
    if os.environ.get("RELAYLINK_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"browser tests required (RELAYLINK_REQUIRE_BROWSER=1) but {missing}")
    pytest.skip(missing, allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    # Headless as root on a machine without a network: no sandbox (root), and none of Chromium's own
    # background connections (each would be refused and retried).
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", "--window-size=1280,1000"):
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="relaylink-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)  # the Debian driver: no download
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # each pytest-xdist worker with a share of this module runs this
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def site(tmp_path, browser, request):
    # 120x with an uplink every 2 simulated minutes: a command moves about once a second, slow
    # enough to be seen moving, fast enough for CI.
    with ph.start(tmp_path, speed=120, uplink_interval=120) as d:
        d.serve("127.0.0.1", 0, log_requests=False)
        browser.delete_all_cookies()
        yield d
        if getattr(request.node, "failed", False):
            shot(browser, f"{request.node.name}-FAILED")


def shot(driver, name):
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait(driver, timeout=30):
    return WebDriverWait(driver, timeout, poll_frequency=0.1)


def log_in(driver, site, username):
    driver.get(site.url + "/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(ph.PASSWORDS[username])
    driver.find_element(By.ID, "login").click()
    wait(driver).until(EC.presence_of_element_located((By.ID, "whoami")))
    assert username in driver.find_element(By.ID, "whoami").text


def text_of(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def test_disconnect_through_the_modal_then_reconnect(browser, site):
    log_in(browser, site, "admin")
    assert "/meters" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "#meters tbody tr")
    assert len(rows) == 7
    shot(browser, "01-meters")

    browser.find_element(By.LINK_TEXT, "Flat 1A").click()
    wait(browser).until(EC.element_to_be_clickable((By.ID, "disconnect"))).click()
    modal = browser.find_element(By.ID, "disconnect-modal")
    assert modal.is_displayed() and "cuts the electricity supply to Block A, flat 1" in modal.text
    # No reason: the modal says why and nothing is sent.
    browser.find_element(By.ID, "confirm-disconnect").click()
    assert "the reason is kept in the audit trail" in modal.find_element(By.CSS_SELECTOR, "[data-error]").text
    assert site.service.history(EUI[FLAT_1A], 10) == []
    browser.find_element(By.ID, "disconnect-reason").send_keys("balance below zero for 7 days")
    shot(browser, "02-disconnect-modal")
    # The meter's uplinks are lost until the page has shown the command waiting at ChirpStack: on a loaded
    # machine the page's refresh could otherwise miss every state between the request and the confirmation.
    site.sim.set_faults(EUI[FLAT_1A], uplink_loss=1.0)
    browser.find_element(By.ID, "confirm-disconnect").click()
    wait(browser).until(EC.invisibility_of_element(modal))

    # The command's state moves on the page without a reload until the meter confirms.
    seen = set()

    def state_is(*wanted):
        def check(d):
            s = d.find_element(By.ID, "progress-state").get_attribute("data-state") or ""
            seen.add(s)
            return s in wanted
        return check

    wait(browser).until(state_is("queued"))
    site.sim.set_faults(EUI[FLAT_1A])  # heard again: its next uplink carries the disconnect
    wait(browser).until(state_is("confirmed"))
    assert {"queued", "confirmed"} <= seen, seen
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "relay-state"), "Disconnected"))
    assert site.sim.device(EUI[FLAT_1A])["relay_closed"] is False
    history = browser.find_element(By.ID, "history")
    assert "balance below zero for 7 days" in history.text and "confirmed" in history.text
    history.find_element(By.TAG_NAME, "summary").click()
    assert "sent → confirmed" in history.text or "acknowledged → confirmed" in history.text
    shot(browser, "03-disconnect-confirmed")

    browser.find_element(By.ID, "reconnect").click()
    browser.find_element(By.ID, "reconnect-reason").send_keys("paid")
    browser.find_element(By.ID, "confirm-reconnect").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "relay-state"), "Connected"))
    wait(browser).until(lambda d: d.find_element(By.ID, "progress-state").get_attribute("data-state") == "confirmed")
    assert site.sim.device(EUI[FLAT_1A])["relay_closed"] is True
    shot(browser, "04-reconnect-confirmed")
    cmds = site.service.history(EUI[FLAT_1A], 10)
    assert [(c.kind, c.state, c.created_by) for c in cmds] == [("relay_on", "confirmed", "admin"), ("relay_off", "confirmed", "admin")]

    browser.get(site.url + "/notifications")
    text = browser.find_element(By.ID, "notifications").text
    assert "was disconnected" in text and "was restored" in text
    browser.get(site.url + "/audit?meter=1")
    audit = browser.find_element(By.ID, "audit").text
    assert "meter.relay_off" in audit and "meter.relay_on" in audit and "balance below zero for 7 days" in audit
    shot(browser, "05-audit")


def test_viewer_is_denied(browser, site):
    log_in(browser, site, "viewer")
    # The meters list follows what others do, without a reload (the marker would not survive one).
    browser.execute_script("window.__sameDocument = true;")
    badge = (By.CSS_SELECTOR, f'tr[data-meter="{FLAT_3A}"] [data-field="relay"]')
    assert browser.find_element(*badge).text == "Unknown"
    site.service.disconnect(EUI[FLAT_3A], profile="eastron_sdm", meter_ref=str(FLAT_3A), actor="admin", reason="arrears")
    wait(browser).until(EC.text_to_be_present_in_element(badge, "Disconnected"))
    assert browser.execute_script("return window.__sameDocument") is True
    assert "ago" in browser.find_element(By.CSS_SELECTOR, f'tr[data-meter="{FLAT_3A}"] [data-field="uplink"]').text
    shot(browser, "06-viewer-meters-live")
    browser.get(site.url + "/meters/1")
    assert not browser.find_elements(By.ID, "disconnect") and not browser.find_elements(By.ID, "reconnect")
    assert "can see this meter but not switch it" in browser.page_source
    # Even a request made by hand from the page, with the page's own CSRF token, is refused.
    status = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/v1/meters/1/relay', {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'Accept': 'application/json',
                        'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content},
              body: JSON.stringify({action: 'off', reason: 'trying'})}).then(r => done(r.status));""")
    assert status == 403
    browser.get(site.url + "/bulk")
    assert "403" in browser.find_element(By.ID, "error").text
    shot(browser, "07-viewer-denied")
    assert site.service.history(EUI[FLAT_1A], 10) == []


def test_bulk_run_with_progress_and_a_refusal(browser, site, tmp_path):
    log_in(browser, site, "admin")
    for mid in (FLAT_2B, CLINIC, FLAT_3A):
        browser.find_element(By.CSS_SELECTOR, f'tr[data-meter="{mid}"] input.pick').click()
    browser.find_element(By.ID, "bulk-selected").click()
    wait(browser).until(EC.presence_of_element_located((By.ID, "bulk-form")))
    picked = [b.get_attribute("value") for b in browser.find_elements(By.CSS_SELECTOR, "input.pick") if b.is_selected()]
    assert sorted(picked) == sorted(str(m) for m in (FLAT_2B, CLINIC, FLAT_3A))
    browser.find_element(By.ID, "bulk-reason").send_keys("arrears run")
    upload = tmp_path / "more.csv"
    upload.write_text(f"device_eui\n{EUI[FLAT_1A].lower()}\n{EUI[FLAT_2B]}\n")  # one more meter, one already ticked
    browser.find_element(By.ID, "bulk-csv").send_keys(str(upload))
    browser.find_element(By.ID, "bulk-run").click()
    # Nothing is sent before the count (and who is in credit) has been confirmed.
    wait(browser).until(EC.presence_of_element_located((By.ID, "bulk-confirm")))
    assert "Disconnect 4 meters?" in browser.find_element(By.ID, "bulk-confirm-title").text
    shot(browser, "08-bulk-confirm")
    # The meters' uplinks are lost until the bar has been seen short of full: their commands cannot finish
    # before that (on a loaded machine the page could otherwise be read first when the run is already over).
    going = (FLAT_1A, FLAT_2B, FLAT_3A)
    for m in going:
        site.sim.set_faults(EUI[m], uplink_loss=1.0)
    browser.find_element(By.ID, "bulk-confirm-run").click()
    wait(browser).until(EC.presence_of_element_located((By.ID, "bulk-bar")))
    wait(browser).until(lambda d: d.find_element(By.ID, "bulk-bar").get_attribute("data-percent"))
    started = browser.find_element(By.ID, "bulk-bar").get_attribute("data-percent")
    assert started != "100", started
    shot(browser, "08-bulk-started")
    for m in going:
        site.sim.set_faults(EUI[m])
    widths = {started}

    def finished(d):
        # The summary first: the page paints both in one go, so a finished summary read before the bar
        # guarantees the bar is read at 100 (read the other way round, a paint between the two reads
        # would leave the last width unseen).
        done = "Finished." in d.find_element(By.ID, "bulk-summary").text
        widths.add(d.find_element(By.ID, "bulk-bar").get_attribute("data-percent"))
        return done

    try:
        wait(browser, 45).until(finished)
    except TimeoutException:
        shot(browser, "08-bulk-timeout")
        raise
    assert "100" in widths and len(widths) >= 2, widths  # the bar moved
    full = browser.find_element(By.CSS_SELECTOR, ".progress").size["width"]
    wait(browser, 5).until(lambda d: d.find_element(By.ID, "bulk-bar").size["width"] >= full - 1)  # drawn full (after its transition)
    rows = {r.get_attribute("data-eui"): r.text for r in browser.find_elements(By.CSS_SELECTOR, "#bulk-items tbody tr")}
    assert "refused" in rows[EUI[CLINIC]] and "protected" in rows[EUI[CLINIC]]
    assert len(rows) == 4
    for m in (FLAT_1A, FLAT_2B, FLAT_3A):
        assert "confirmed" in rows[EUI[m]], rows
        assert site.sim.device(EUI[m])["relay_closed"] is False
    shot(browser, "09-bulk-finished")


def _contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two computed CSS colours ("rgb(r, g, b)" / "rgba(...)")."""
    import re as _re

    def lum(c: str) -> float:
        r, g, b = (int(x) / 255 for x in _re.findall(r"\d+", c)[:3])
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_at_400_px_no_page_scrolls_sideways_and_the_badges_and_controls_read(browser, site):
    log_in(browser, site, "admin")
    browser.set_window_size(400, 900)
    try:
        for path, name in (("/meters", "meters"), ("/meters/1", "meter"), ("/bulk", "bulk"), ("/audit", "audit")):
            browser.get(site.url + path)
            wait(browser).until(EC.presence_of_element_located((By.TAG_NAME, "main")))
            width = browser.execute_script("return window.innerWidth")
            scroll = browser.execute_script("return document.documentElement.scrollWidth")
            shot(browser, f"10-narrow-{name}")
            assert scroll <= width, f"{path}: the page scrolls sideways ({scroll} px wide in a {width} px window)"
            header = browser.find_element(By.CSS_SELECTOR, "header.top")
            assert header.size["width"] <= width, f"{path}: the header is wider than the window"
        browser.get(site.url + "/meters")
        for box in browser.find_elements(By.CSS_SELECTOR, "input[type=checkbox]"):  # each says what it selects
            assert (box.get_attribute("aria-label") or "").startswith("Select"), box.get_attribute("outerHTML")
        for badge in browser.find_elements(By.CSS_SELECTOR, ".badge"):
            fg = browser.execute_script("return getComputedStyle(arguments[0]).color", badge)
            bg = browser.execute_script("return getComputedStyle(arguments[0]).backgroundColor", badge)
            assert _contrast(fg, bg) >= 4.5, (badge.text, fg, bg, _contrast(fg, bg))
        browser.get(site.url + "/meters/1")
        assert browser.find_element(By.ID, "progress").get_attribute("aria-live") == "polite"
    finally:
        browser.set_window_size(1280, 1000)
