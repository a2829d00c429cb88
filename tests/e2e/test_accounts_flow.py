import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_up_log_in_and_create_an_api_token(page, shot):
    page.goto("/")
    shot(page, "home")
    page.get_by_role("link", name="Sign up").first.click()

    page.get_by_label("Username").fill("playwright")
    page.locator("#id_password1").fill("a long pass 4242")
    page.locator("#id_password2").fill("a long pass 4242")
    shot(page, "signup")
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("Welcome to Agentbay, playwright.")).to_be_visible()
    shot(page, "dashboard")

    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in").first.click()
    page.get_by_label("Username").fill("playwright")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
    shot(page, "login-error")
    page.get_by_label("Password").fill("a long pass 4242")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("link", name="playwright").click()  # the account page
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_text("No tokens yet")).to_be_visible()
    page.get_by_label("Name").fill("my laptop")
    page.get_by_role("button", name="Create token").click()
    raw = page.locator("#new-token").inner_text()
    assert raw.startswith("ab_")
    expect(page.locator("#token-table")).to_contain_text("my laptop")
    shot(page, "token-created")

    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    assert ApiToken.objects.get().name == "my laptop"


@pytest.mark.parametrize("url", ["/", "/account/login/", "/account/signup/"])
def test_pages_work_at_360px_without_horizontal_scroll(browser, live_server, url, shot):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(url)
    shot(page, "narrow")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    context.close()
    assert overflow <= 0


def test_keyboard_only_log_in(page, django_user_model, shot):
    django_user_model.objects.create_user(username="keys", password="a long pass 4242")
    page.goto("/account/login/")

    skip = page.locator(".skip-link")
    skip.focus()
    assert skip.bounding_box()["x"] >= 0  # the skip link shows itself when focused
    page.get_by_label("Username").focus()
    page.keyboard.type("keys")
    page.keyboard.press("Tab")
    page.keyboard.type("a long pass 4242")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    outline = page.evaluate(
        "(() => { const a = document.querySelector('nav a'); a.focus();"
        " return getComputedStyle(a).outlineStyle; })()"
    )
    shot(page, "keyboard")
    assert outline != "none"
