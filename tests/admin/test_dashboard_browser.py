"""The owner's dashboard in a real browser (Debian's Chromium, driven by Playwright).

Every test runs the real server (``adapters.asgi.create_app`` under uvicorn) on a
real runtime on the real Redis, and talks to the tiny shop bot through the real
dialogue manager. Set ``SHOPKEEP_SCREENSHOT_DIR`` to keep a screenshot of each page.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from core.events import Event, EventKind
from core.handoff import StaffMember
from core.messages import IncomingMessage, Platform
from tests.admin.conftest import TINY, TOKEN, Dashboard, login

SHOTS = os.environ.get("SHOPKEEP_SCREENSHOT_DIR")
FALLBACK = "Sorry, I didn't get that."
DELIVERY = "do you deliver to france"
XSS_MESSAGE = '<script>window.__pwned = 3</script><img src=x onerror="window.__pwned=4"> do you deliver to france'


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"admin-{name}.png"), full_page=True)


def test_wrong_or_missing_token_gets_401_and_no_data_forged_or_replayed_forms_get_403(
        dashboard: Dashboard, page: Any, browser: Any) -> None:
    url = dashboard.url
    dashboard.say("hello", chat="auth-1")
    dashboard.flush()

    response = page.goto(f"{url}/admin")
    assert response.status == 401
    assert page.get_by_label("Admin token").is_visible()
    assert page.get_by_test_id("messages").count() == 0
    assert login(page, url, token="not the token").status == 401
    assert page.get_by_role("alert").inner_text() == "That token is not right."
    assert page.get_by_test_id("messages").count() == 0
    # The login form itself needs its CSRF token.
    assert page.request.post(f"{url}/admin/login", form={"token": TOKEN}).status == 403

    assert login(page, url).status == 200
    assert page.get_by_test_id("messages").inner_text() == "1"

    # Logged in, a POST still needs a token made for this session, once.
    assert page.request.post(f"{url}/admin/review/dismiss", form={"bot": TINY}).status == 403
    assert page.request.post(f"{url}/admin/review/dismiss",
                             form={"bot": TINY, "csrf": "AAAAAAAAAAAAAAAA.forged"}).status == 403
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    first = page.request.post(f"{url}/admin/review/dismiss", form={"bot": TINY, "csrf": token}, max_redirects=0)
    assert first.status == 303
    replay = page.request.post(f"{url}/admin/review/dismiss", form={"bot": TINY, "csrf": token}, max_redirects=0)
    assert replay.status == 403

    other = browser.new_context()
    try:
        other_page = other.new_page()
        login(other_page, url)
        foreign = other_page.locator("input[name=csrf]").first.get_attribute("value")
    finally:
        other.close()
    assert page.request.post(f"{url}/admin/review/dismiss", form={"bot": TINY, "csrf": foreign}).status == 403

    # Logging out revokes the session: the same cookie no longer shows data.
    cookies = page.context.cookies()
    page.reload()  # the page's forms share the token spent above
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/admin/login$"))
    page.context.add_cookies(cookies)
    assert page.goto(f"{url}/admin").status == 401
    assert page.get_by_test_id("messages").count() == 0


def _script(board: Dashboard) -> None:
    """Six conversations on two platforms: resolved, unresolved, recovered, handed off, searching."""
    assert board.say("hello", chat="a")[0].text == "Hello!"
    assert board.say("when are you open", chat="a")[0].text.startswith("We're open")
    board.say("thanks", chat="a")
    assert board.say(DELIVERY, chat="b")[0].text == FALLBACK  # unresolved
    assert board.say(DELIVERY, chat="c", platform=Platform.SLACK)[0].text == FALLBACK
    assert board.say("hello", chat="c", platform=Platform.SLACK)[0].text == "Hello!"  # recovered: resolved
    board.say("/human", chat="d", platform=Platform.SLACK)  # handoff, claimed, answered, closed, rated
    handoff = board.runtime.handoff
    tickets = board.run(handoff.open_tickets())
    assert len(tickets) == 1 and tickets[0].staff is not None
    ticket = tickets[0]
    sam = StaffMember(user_id="U0SAM", name="Sam")
    board.run(handoff.claim(ticket.id, staff=sam))
    staff_message = IncomingMessage(conversation=ticket.staff, user_id="U0SAM", user_name="Sam",
                                    text="Hi, how can I help?")
    board.run(handoff.intercept(staff_message, None))
    board.run(handoff.close(ticket.id, staff=sam))
    board.say(chat="d", platform=Platform.SLACK, payload="rate:4")
    assert board.say("zorbly quux blip", chat="e")[0].text == FALLBACK
    assert board.say("zorbly quux blip", chat="e")[0].handoff  # a second fallback hands over
    assert board.say("show me red hoodies", chat="f")[0].text.startswith("Found 1")
    assert board.say("do you have green socks", chat="f")[0].text == "Nothing matches that."


def test_overview_numbers_equal_the_events_of_scripted_conversations(dashboard: Dashboard, page: Any) -> None:
    seen: list[Event] = []
    dashboard.runtime.event_observers.append(seen.append)
    _script(dashboard)
    dashboard.flush()
    kinds = Counter(e.kind for e in seen)

    login(page, dashboard.url)
    page.goto(f"{dashboard.url}/admin?window=24h")
    tile = lambda name: page.get_by_test_id(name).inner_text()
    # From the script: 12 messages in 6 sessions; 3 resolved (a, c, f), 1 unresolved (b), 2 handed off (d, e).
    assert tile("messages") == "12" == str(kinds[EventKind.MESSAGE])
    assert tile("sessions") == "6"
    assert tile("resolution") == "50.0 %"
    assert tile("handoff-rate") == "33.3 %"
    assert tile("status-resolved") == "3" and tile("status-unresolved") == "1" and tile("status-handoff") == "2"
    assert tile("csat") == "4.00"
    assert page.get_by_text("1 handoff(s) answered").is_visible()
    rows = {(r.get_attribute("data-platform"), r.get_attribute("data-bot")): r.locator("td").all_inner_texts()
            for r in page.get_by_test_id("channels").locator("tbody tr").all()}
    assert rows == {("slack", TINY): ["slack", TINY, "4", "2"], ("telegram", TINY): ["telegram", TINY, "8", "4"]}
    # Every counted kind on the page equals the events the dialogue emitted.
    for kind in (EventKind.FALLBACK, EventKind.OUT_OF_SCOPE, EventKind.SEARCH, EventKind.ITEM_VIEWED,
                 EventKind.CART_ADD, EventKind.HANDOFF_REQUESTED, EventKind.HANDOFF_CLAIMED,
                 EventKind.HANDOFF_CLOSED, EventKind.CSAT):
        assert tile(f"kind-{kind.value}") == str(kinds[kind]), kind
    assert kinds[EventKind.HANDOFF_REQUESTED] == 2 and kinds[EventKind.SEARCH] == 2
    assert tile("kind-zero_results") == "1"
    assert page.locator("svg.chart").count() == 2
    timing = page.evaluate("performance.getEntriesByType('navigation')[0].serverTiming.map(t => t.name)")
    assert "render" in timing
    shot(page, "overview")

    page.goto(f"{dashboard.url}/admin/search?days=1")
    assert page.get_by_test_id("top-queries").locator("tbody tr").count() == 2
    assert page.get_by_test_id("zero-queries").locator("tbody td").first.inner_text() == "do you have green socks"
    assert "Red Hoodie" in page.get_by_test_id("added").inner_text()
    shot(page, "search")


def _teaching(board: Dashboard) -> dict[str, Any]:
    return json.loads((board.data_dir / TINY / "teaching.json").read_text(encoding="utf-8"))


def test_label_new_answer_retrain_once_and_the_message_is_understood(
        dashboard: Dashboard, page: Any, browser: Any) -> None:
    url = dashboard.url
    for chat in ("r1", "r2"):
        assert dashboard.say(DELIVERY, chat=chat)[0].text == FALLBACK
    assert dashboard.say("zorbly quux blip", chat="r3")[0].text == FALLBACK
    dashboard.flush()
    login(page, url)

    page.goto(f"{url}/admin/unanswered?bot={TINY}")
    assert DELIVERY in page.get_by_test_id("clusters").inner_text()
    shot(page, "unanswered")

    page.goto(f"{url}/admin/review?bot={TINY}")
    delivery = page.get_by_test_id("group").filter(has_text=DELIVERY)
    other = page.get_by_test_id("group").filter(has_text="zorbly quux blip")
    shot(page, "review")
    # An intent the bot does not have is a form error, and nothing is taught.
    other.get_by_label("Existing intent").fill("no_such_intent")
    with page.expect_navigation() as nav:
        other.get_by_test_id("assign").click()
    assert nav.value.status == 400
    assert "'no_such_intent' is not an intent of the tinyshop bot" in page.get_by_test_id("form-error").inner_text()
    assert not (dashboard.data_dir / TINY / "teaching.json").exists()

    # A whole group becomes a new answer, in English and Chinese.
    delivery = page.get_by_test_id("group").filter(has_text=DELIVERY)
    delivery.locator("summary", has_text="Write a new answer").click()
    delivery.get_by_label("Title").fill("Delivery abroad")
    delivery.get_by_label("Answer (English)").fill("We deliver across Europe in 3 to 5 days.")
    delivery.get_by_label("Answer (Chinese)").fill("我们在 3 到 5 天内送达欧洲各地。")
    delivery.get_by_label("Other ways to ask").fill("do you ship abroad\ncan you deliver to germany\n"
                                                    "international delivery?")
    with page.expect_navigation():
        delivery.get_by_test_id("save-answer").click()
    assert "answer:faq_delivery_abroad" in page.get_by_test_id("saved").inner_text()
    taught = _teaching(dashboard)["answers"]
    assert taught[0]["intent"] == "faq_delivery_abroad"
    assert DELIVERY in taught[0]["examples"] and "do you ship abroad" in taught[0]["examples"]
    assert taught[0]["answers"]["zh"] == "我们在 3 到 5 天内送达欧洲各地。"
    # One example of another group goes to an existing intent (the checkbox alone, not the group).
    other = page.get_by_test_id("group").filter(has_text="zorbly quux blip")
    other.get_by_test_id("all").uncheck()
    other.get_by_test_id("example").first.check()
    other.get_by_label("Existing intent").fill("greet")
    with page.expect_navigation():
        other.get_by_test_id("assign").click()
    assert _teaching(dashboard)["examples"][0] == {**_teaching(dashboard)["examples"][0],
                                                   "text": "zorbly quux blip", "intent": "greet"}
    assert page.get_by_test_id("group").filter(has_text=DELIVERY).count() == 0  # reviewed: gone from the queue

    # Two owners press Retrain at the same time: one run.
    second = browser.new_context()
    try:
        page_b = second.new_page()
        login(page_b, url)
        page_b.goto(f"{url}/admin/review?bot={TINY}")
        page.goto(f"{url}/admin/review?bot={TINY}")
        with page.expect_navigation(), page_b.expect_navigation():
            page.get_by_test_id("retrain").click(no_wait_after=True)
            page_b.get_by_test_id("retrain").click(no_wait_after=True)
        said = {page.get_by_test_id("saved").inner_text(), page_b.get_by_test_id("saved").inner_text()}
        assert said == {"Saved: retrain:started:0", "Saved: retrain:running:0"}
    finally:
        second.close()
    status = page.get_by_test_id("training")
    deadline = time.monotonic() + 180
    while status.get_attribute("data-state") == "running":  # the page refreshes itself every 2 s
        assert time.monotonic() < deadline, "training did not finish in 180 s"
        page.wait_for_timeout(500)
        status = page.get_by_test_id("training")
    assert status.get_attribute("data-state") == "done", status.inner_text()
    versions = [p for p in (dashboard.data_dir / TINY / "heads").iterdir() if p.is_dir()]
    assert len(versions) == 1
    merged = json.loads((versions[0] / "manifest.json").read_text())
    assert merged["examples"] == 48 + 1 + 4  # the bot's own, one label, the new answer's four questions

    manager = dashboard.runtime.managers[TINY]
    deadline = time.monotonic() + 10
    while "faq_delivery_abroad" not in manager.answers:  # each worker polls the published version
        assert time.monotonic() < deadline, "the new head was not swapped in"
        time.sleep(0.1)
    assert dashboard.say(DELIVERY, chat="r4")[0].text == "We deliver across Europe in 3 to 5 days."
    assert dashboard.say("can you deliver to germany", chat="r5")[0].text == "We deliver across Europe in 3 to 5 days."
    dashboard.say("/lang zh", chat="r6")  # the answer in the conversation's language
    assert dashboard.say(DELIVERY, chat="r6")[0].text == "我们在 3 到 5 天内送达欧洲各地。"


def test_xss_in_a_message_or_a_product_title_is_shown_as_text(dashboard: Dashboard, page: Any) -> None:
    assert dashboard.say(XSS_MESSAGE, chat="x1")[0].text == FALLBACK
    assert dashboard.say("show me a tee", chat="x2")[0].text.startswith("Found 1")
    dashboard.flush()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, dashboard.url)
    for path, where in ((f"/admin/unanswered?bot={TINY}", "clusters"), (f"/admin/review?bot={TINY}", None),
                        ("/admin/search?days=1", "viewed")):
        page.goto(dashboard.url + path)
        page.wait_for_load_state("load")
        assert page.evaluate("window.__pwned") is None, path
        text = page.get_by_test_id(where).inner_text() if where else page.locator("main").inner_text()
        assert "<script>window.__pwned" in text, path
        assert page.locator("main script, main img").count() == 0, path
    assert dialogs == []


PAGES = ("/admin", f"/admin/unanswered?bot={TINY}", f"/admin/review?bot={TINY}", "/admin/search")


def test_pages_fit_360_px_and_work_with_the_keyboard(dashboard: Dashboard, browser: Any) -> None:
    dashboard.say(DELIVERY, chat="k1")
    dashboard.say("show me red hoodies", chat="k2")
    dashboard.flush()
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        login(page, dashboard.url)
        for path in PAGES:
            page.goto(dashboard.url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Skip to content", path
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.id") == "main", path
            # Back to the top, then through the navigation by keyboard to another page.
            page.goto(dashboard.url + path)
            for _ in range(6):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.textContent") == "Search":
                    break
            assert page.evaluate("document.activeElement.textContent") == "Search", path
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert page.url.endswith("/admin/search"), path
    finally:
        context.close()
