"""The page in a real browser: Playwright drives Debian's chromium against a real uvicorn server on 127.0.0.1.

Never a downloaded browser: without /usr/bin/chromium these tests are skipped. Screenshots are kept in
test-artifacts/ at the repository root.
"""

import re
import socket
import threading
import time
from pathlib import Path

import pytest
from synthetic import write_idx_dataset

from fiveornot.data import load_dataset
from fiveornot.experiment import run_experiment
from fiveornot.model import Perceptron

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
TIMEOUT_MS = 15_000

# A five in one stroke, as fractions of the pad: the top bar right to left, down, then the belly.
FIVE_STROKE = [(0.70, 0.20), (0.36, 0.20), (0.33, 0.48), (0.45, 0.43), (0.58, 0.45), (0.67, 0.55), (0.68, 0.66),
               (0.62, 0.77), (0.48, 0.82), (0.33, 0.77)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """A real uvicorn server in a thread, serving a digit-5 model trained on synthetic data (where it is
    right on practically every test image, so a random five is called a five)."""
    import uvicorn

    from fiveornot.web.app import create_app

    root = tmp_path_factory.mktemp("web-browser")
    data_dir = write_idx_dataset(root / "data")
    runs_dir = root / "runs"
    run_experiment(Perceptron(epochs=3, lr=0.01), load_dataset(data_dir=data_dir), runs_dir=runs_dir, argv=[])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runs_dir=runs_dir, data_dir=data_dir), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the uvicorn server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("install Debian's chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server_url):
    page = browser.new_page(viewport={"width": 1100, "height": 900}, reduced_motion="reduce")
    page.set_default_timeout(TIMEOUT_MS)
    page.requested = []
    page.on("request", lambda request: page.requested.append(request.url))
    page.goto(server_url)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    page.close()


def draw(page, stroke) -> None:
    box = page.locator("#pad").bounding_box()
    points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=6)
    page.mouse.up()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def bright_pixels(page, canvas_id: str) -> int:
    return page.evaluate("""(id) => {
        const data = document.getElementById(id).getContext("2d").getImageData(0, 0, 28, 28).data;
        let count = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] > 128) count++;
        return count;
    }""", canvas_id)


def test_draw_a_five_then_a_random_mnist_five(page, server_url):
    from playwright.sync_api import expect

    expect(page.locator("#answer")).to_have_text("Draw a digit")
    draw(page, FIVE_STROKE)
    answer = page.locator("#answer[data-for=drawing]")
    expect(answer).to_have_text(re.compile(r"^(not )?five$"))
    expect(page.locator("#probability-label")).to_contain_text("probability of “five”")
    assert bright_pixels(page, "input-view") > 20            # the prepared 28x28 input is shown
    screenshot(page, "web-drawn.png")

    page.click("#random-yes")
    expect(page.locator("#answer[data-for^=sample]")).to_have_text("five")
    expect(page.locator("#pad-caption")).to_contain_text("labelled 5")
    screenshot(page, "web-random-five.png")

    page.click("#random-no")
    expect(page.locator("#pad-caption")).not_to_contain_text("labelled 5")
    assert all(url.startswith((server_url, "data:")) for url in page.requested), page.requested


def test_clear_with_the_keyboard_asks_for_a_digit_again(page):
    from playwright.sync_api import expect

    draw(page, FIVE_STROKE)
    expect(page.locator("#answer[data-for=drawing]")).to_have_text(re.compile("five"))
    page.focus("#clear")
    page.keyboard.press("Enter")
    expect(page.locator("#answer")).to_have_text("Draw a digit")
    assert bright_pixels(page, "input-view") == 0


def test_the_page_fits_a_phone_and_touch_draws(browser, server_url):
    page = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        page.goto(server_url)
        page.wait_for_selector("body[data-ready=true]")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390      # no sideways scrolling
        assert page.evaluate("getComputedStyle(document.getElementById('pad')).touchAction") == "none"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-phone.png"), full_page=True)
    finally:
        page.close()
