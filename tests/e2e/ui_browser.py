#!/usr/bin/python3
"""ui_browser.py — drive the web page (/ui/) in Debian's headless Chromium.

Called by t_ui.sh:  ui_browser.py PHASE BASE_URL OUTDIR SPEC.json
PHASE is "anon" (no [auth]) or "auth".  SPEC holds what t_ui.sh pushed.
Prints one line per check: "PASS|what" or "FAIL|what|why", and
"INFO|what" for measurements.  Screenshots go to OUTDIR/*.png.  Every wait
is bounded; the browser always quits.
"""
import json
import os
import shutil
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 20


def out(*parts):
    print("|".join(str(p).replace("\n", " ") for p in parts), flush=True)


def check(cond, what, why=""):
    out("PASS", what) if cond else out("FAIL", what, why)
    return cond


class UI:
    def __init__(self, base, outdir):
        self.base = base.rstrip("/")
        self.outdir = outdir
        self.profile = tempfile.mkdtemp(prefix="ui-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,900", "--user-data-dir=" + self.profile,
                  "--no-first-run", "--disable-extensions", "--disable-background-networking"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        svc = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
        self.d = webdriver.Chrome(service=svc, options=opts)
        self.d.set_page_load_timeout(WAIT)
        self.d.set_script_timeout(WAIT)

    def quit(self):
        try:
            self.d.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def go(self, frag):
        self.d.get(self.base + "/ui/" + frag)

    def nav(self, frag):
        """Change the hash in the loaded page (keeps the in-memory login)."""
        self.d.execute_script("location.hash = arguments[0];", frag)

    def wait(self, fn, what, timeout=WAIT):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.05).until(lambda d: fn())
        except TimeoutException:
            out("FAIL", what, "timed out after %ss" % timeout)
            return None

    def css(self, sel):
        return self.d.find_elements(By.CSS_SELECTOR, sel)

    def text(self, sel):
        els = self.css(sel)
        return els[0].text if els else None

    def shot(self, name):
        path = os.path.join(self.outdir, name + ".png")
        self.d.save_screenshot(path)
        out("INFO", "screenshot " + path)

    def no_alert(self, what):
        try:
            a = self.d.switch_to.alert
            t = a.text
            a.dismiss()
            return check(False, what, "an alert opened: " + t)
        except NoAlertPresentException:
            return check(True, what)

    def console_problems(self):
        """Browser console errors: CSP violations, script errors."""
        bad = []
        for e in self.d.get_log("browser"):
            msg = e.get("message", "")
            if e.get("level") == "SEVERE" and "favicon" not in msg and \
                    "401" not in msg and "404" not in msg:
                bad.append(msg)
            elif "Content Security Policy" in msg or "Content-Security-Policy" in msg:
                bad.append(msg)
        return bad


def rows_text(ui, sel):
    return [r.text for r in ui.css(sel)]


def repo_names(ui):
    # One script call: the list may be replaced between two WebDriver
    # round trips (a page still loading), which would leave stale elements.
    return ui.d.execute_script(
        "return Array.from(document.querySelectorAll('#repos tr.repo td:first-child a'),"
        " (a) => a.textContent);")


def phase_anon(ui, spec):
    # / redirects to /ui/ and the list shows the pushed repositories.
    ui.d.get(ui.base + "/")
    check(ui.d.current_url.startswith(ui.base + "/ui/"), "/ redirects to /ui/", ui.d.current_url)
    ui.wait(lambda: ui.css("#repos tr.repo") or ui.css("#no-repos"), "repository list renders")
    names = repo_names(ui)
    for r in spec["repos"]:
        check(r in names, "list shows repository " + r, "got %s" % names[:20])
    check(len(names) == 100, "the first page holds 100 repositories", "got %d" % len(names))
    ui.shot("01-list")
    cached = [tr.text for tr in ui.css("#repos tr.repo") if ui.css("#repos tr.repo .badge.cached")]
    out("INFO", "cached rows %d" % len(cached))

    # Pagination over the bulk repositories.
    first = names
    nxt = ui.css("#next-page")
    if check(bool(nxt), "a next-page link is offered"):
        nxt[0].click()
        ui.wait(lambda: ui.css("#repos tr.repo") and repo_names(ui) != first, "second page renders")
        second = repo_names(ui)
        check(second and second[0] > first[-1], "second page continues after the first",
              "%s .. %s" % (first[-1:], second[:1]))
        ui.shot("02-list-page2")
        pages = 2
        # Follow each page's own link (its href read in the page, so a
        # click racing a re-render cannot end the walk early).
        while pages < 200:
            href = ui.d.execute_script(
                "const a = document.getElementById('next-page'); return a ? a.getAttribute('href') : null;")
            if not href:
                break
            prev = repo_names(ui)
            ui.nav(href)
            if ui.wait(lambda: repo_names(ui) and repo_names(ui) != prev,
                       "page %d renders" % (pages + 1)) is None:
                break
            pages += 1
        check(pages == spec["pages"], "paging reaches the last page (%d pages)" % spec["pages"],
              "got %d, at %s, last page %s" % (pages, ui.d.current_url, repo_names(ui)[-2:]))

    # Filter box.
    ui.go("#/")
    ui.wait(lambda: ui.css("#filter"), "filter box")
    box = ui.css("#filter")[0]
    box.send_keys("multi")
    ui.css("#filter-form button")[0].click()
    ui.wait(lambda: repo_names(ui) == ["team/multi"], "filter 'multi' leaves team/multi only")
    ui.shot("03-filter")

    # A repository: tag, digest, size, created, pull commands.
    ui.go("#/r/" + "team%2Fapp")
    ui.wait(lambda: ui.css("#tags[data-ready=yes]"), "team/app tags render")
    row = ui.css('#tags tr.tag[data-tag="1"]')
    if check(bool(row), "team/app lists tag 1"):
        code = row[0].find_element(By.CSS_SELECTOR, "code.digest")
        check(code.get_attribute("title") == spec["app_digest"], "tag 1 shows the pushed digest",
              code.get_attribute("title"))
        check(code.text == spec["app_digest"][:19], "the digest is shortened", code.text)
        btn = row[0].find_element(By.CSS_SELECTOR, ".c-digest button.copy")
        check(btn.get_attribute("data-copy") == spec["app_digest"], "the digest has a copy button")
        size = row[0].find_element(By.CSS_SELECTOR, ".c-size").get_attribute("title")
        check(size.startswith("%d bytes" % spec["app_size"]), "tag 1 shows the compressed size",
              "%s vs %d" % (size, spec["app_size"]))
        created = row[0].find_element(By.CSS_SELECTOR, ".c-created").text
        check(created == spec["app_created"], "tag 1 shows the config's created time", created)
    cmds = ui.text("#pull-cmds") or ""
    host = ui.base.split("://", 1)[1]
    check("docker pull %s/team/app:" % host in cmds and "podman pull" in cmds and
          "skopeo inspect" in cmds and "docker://%s/team/app" % host in cmds,
          "pull commands name the daemon's address", cmds)
    ui.shot("04-repo")

    # An index shows its platforms (in the tag row and in the manifest view).
    ui.go("#/r/" + "team%2Fmulti")
    ui.wait(lambda: ui.css("#tags[data-ready=yes]"), "team/multi tags render")
    plat = ui.text('#tags tr.tag[data-tag="v1"] .c-platforms') or ""
    check(plat == "linux/amd64, linux/arm64", "the index's tag shows both platforms", plat)
    ui.go("#/m/team%2Fmulti/v1")
    ui.wait(lambda: ui.css("#children tr.child"), "index children render")
    kids = rows_text(ui, "#children tr.child")
    check(len(kids) == 2 and "linux/amd64" in kids[0] and "linux/arm64" in kids[1],
          "the index view lists its two platform manifests", kids)
    ui.shot("05-index")

    # A signed image shows its referrer; a referrer links to its manifest.
    ui.go("#/m/team%2Fapp/" + spec["app_digest"])
    ui.wait(lambda: ui.css("#referrers tr.referrer") or ui.css("#no-referrers"), "referrers render")
    refs = rows_text(ui, "#referrers tr.referrer")
    check(len(refs) == 1 and spec["sig_type"] in refs[0] and spec["sig_note"] in refs[0],
          "the signed image shows its signature referrer", refs)
    layers = rows_text(ui, "#layers tr.layer")
    check(len(layers) == spec["app_layers"], "the manifest view lists %d layers" % spec["app_layers"],
          layers)
    check(spec["app_config"] in (ui.text("#config") or ""), "the manifest view shows the config")
    ui.shot("06-signed")
    link = ui.css("#referrers tr.referrer a")
    if link:
        link[0].click()
        ui.wait(lambda: (ui.text("#manifest-digest") or "") == spec["sig_digest"],
                "the referrer link opens the signature manifest")
        facts = ui.text("#manifest-facts") or ""
        check(spec["sig_type"] in facts and spec["app_digest"][:19] in facts,
              "the signature view shows its artifactType and subject", facts)

    # Hostile annotation: text, no markup, no script.
    ui.go("#/m/team%2Fapp/xss")
    ui.wait(lambda: ui.css("#annotations dd"), "annotations render")
    vals = [e.text for e in ui.css("#annotations dd")]
    check(spec["xss"] in vals, "the hostile annotation renders literally as text", vals)
    check(not ui.css("#view img") and not ui.css("#view script"),
          "no element was made from the annotation")
    ui.no_alert("no alert opened on the hostile annotation")
    ui.shot("07-xss")

    # A repository named like markup is harmless.
    ui.go("#/")
    ui.wait(lambda: ui.css("#repos tr.repo"), "list renders again")
    ui.go("#/r/" + spec["markup_repo"].replace("/", "%2F"))
    ui.wait(lambda: ui.css("#tags[data-ready=yes]"), "markup-named repository renders")
    check(ui.text("h1") == spec["markup_repo"], "the markup-like name shows as text", ui.text("h1"))
    tagtxt = [e.text for e in ui.css("#tags tr.tag td:first-child a")]
    check(spec["markup_tag"] in tagtxt, "its markup-like tag shows as text", tagtxt)
    check(not ui.css("#view img"), "no element was made from the name")
    ui.no_alert("no alert opened on the markup-like name")
    ui.shot("08-markup-name")

    # 1,000 tags: the first screen, timed in the browser.
    ui.go("#/")
    ui.wait(lambda: ui.css("#repos tr.repo"), "list renders before the big repository")
    t0 = time.monotonic()
    ui.nav("#/r/" + "big%2Frepo")
    ui.wait(lambda: ui.css("#tags[data-ready=yes]"), "big/repo first screen renders", timeout=30)
    wall = (time.monotonic() - t0) * 1000
    ms = ui.d.execute_script("return window.__ociregdUi.timing.repoFirstScreenMs;")
    out("INFO", "first screen of big/repo (%d tags): %.0f ms in the page (performance.now), "
        "%.0f ms wall from selenium" % (spec["big_tags"], ms or -1, wall))
    check(ms is not None and ms < 5000, "first screen of 1,000 tags under 5 s", ms)
    check((ui.text("#repo-meta") or "").startswith("%d tags" % spec["big_tags"]),
          "the big repository counts its tags", ui.text("#repo-meta"))
    check(len(ui.css("#tags tr.tag")) == 50, "one screen of 50 rows")
    ui.shot("09-big")
    ui.css("#sort-name")[0].click()
    first = ui.css("#tags tr.tag")[0].get_attribute("data-tag")
    check(first == spec["big_last_tag"], "sorting by name descending puts the last tag first", first)
    ui.wait(lambda: ui.css("#tags[data-complete=yes]"), "every tag's details load", timeout=120)
    ui.css("#sort-time")[0].click()
    first = ui.css("#tags tr.tag")[0].get_attribute("data-tag")
    check(first == spec["big_newest_tag"], "sorting by time puts the newest image first", first)
    ui.shot("10-big-by-time")

    # Without [auth] deleting is open to everyone, as in the API.
    check(bool(ui.css("#tags button.delete")), "delete is offered without [auth]")
    probs = ui.console_problems()
    check(not probs, "no CSP violation or script error in the console", probs[:3])


def login(ui, user, pw):
    ui.wait(lambda: ui.css("#login") and ui.css("#login")[0].is_displayed(), "login form shown")
    u, p = ui.css("#login-user")[0], ui.css("#login-pass")[0]
    u.clear()
    u.send_keys(user)
    p.clear()
    p.send_keys(pw)
    ui.css("#login-submit")[0].click()


def phase_auth(ui, spec):
    ui.go("#/")
    ui.wait(lambda: ui.css("#no-repos") or ui.css("#repos") or ui.css("#view .error"),
            "the list answers without credentials")
    check(ui.css("#login")[0].is_displayed(), "a login form is shown when [auth] is on")
    check(not ui.css("#repos tr.repo"), "nothing is listed before login")
    ls = ui.d.execute_script("return [localStorage.length, sessionStorage.length, document.cookie];")
    login(ui, "bob", "wrong-password")
    ui.wait(lambda: (ui.text("#login-error") or "") != "", "wrong password reports an error")
    check(ui.text("#login-error") == "Login failed.", "login with a wrong password fails",
          ui.text("#login-error"))
    check(not ui.css("#whoami")[0].is_displayed(), "no session after a wrong password")
    ui.shot("11-login-failed")

    login(ui, "bob", spec["pw_bob"])
    ui.wait(lambda: ui.css("#whoami") and ui.css("#whoami")[0].is_displayed(), "bob logged in")
    ui.wait(lambda: ui.css("#repos tr.repo"), "bob's list renders")
    names = repo_names(ui)
    check(sorted(names) == sorted(spec["bob_repos"]), "bob sees only what he may pull", names)
    ui.shot("12-bob-list")
    ui.nav("#/r/team%2Fapp")
    ui.wait(lambda: ui.css("#tags[data-ready=yes]"), "bob's team/app renders")
    check(not ui.css("#tags button.delete"), "bob (pull only) is not offered delete")
    ui.shot("13-bob-repo")
    ls = ui.d.execute_script("return [localStorage.length, sessionStorage.length, document.cookie];")
    check(ls == [0, 0, ""], "no credential or token in localStorage, sessionStorage or cookies", ls)

    ui.css("#logout")[0].click()
    login(ui, "alice", spec["pw_alice"])
    ui.wait(lambda: ui.css("#whoami") and ui.css("#whoami")[0].is_displayed()
            and ui.text("#whoami-name") == "alice", "alice logged in")
    ui.nav("#/")
    ui.wait(lambda: len(repo_names(ui)) == len(spec["alice_repos"]), "alice's list renders")
    names = repo_names(ui)
    check(sorted(names) == sorted(spec["alice_repos"]), "alice sees her repositories too", names)
    ui.nav("#/r/team%2Fapp")
    ui.wait(lambda: ui.css("#tags[data-ready=yes]"), "alice's team/app renders")
    row = ui.css('#tags tr.tag[data-tag="%s"]' % spec["delete_tag"])
    if check(bool(row) and bool(row[0].find_elements(By.CSS_SELECTOR, "button.delete")),
             "alice (delete right) is offered delete"):
        row[0].find_element(By.CSS_SELECTOR, "button.delete").click()
        ui.wait(lambda: ui.css("button.confirm-delete"), "delete asks for confirmation")
        check(bool(ui.css('#tags tr.tag[data-tag="%s"]' % spec["delete_tag"])),
              "nothing is deleted before confirming")
        ui.shot("14-delete-confirm")
        ui.css("button.confirm-delete")[0].click()
        ui.wait(lambda: not ui.css('#tags tr.tag[data-tag="%s"]' % spec["delete_tag"]),
                "the deleted tag leaves the table")
        check((ui.text("#status") or "").startswith("Deleted tag"), "the page confirms the deletion",
              ui.text("#status"))
        ui.shot("15-deleted")
    ui.no_alert("no alert during the session")
    probs = ui.console_problems()
    check(not probs, "no CSP violation or script error in the console (auth)", probs[:3])


def main():
    phase, base, outdir, specf = sys.argv[1:5]
    with open(specf) as f:
        spec = json.load(f)
    try:
        ui = UI(base, outdir)
    except WebDriverException as e:
        out("FAIL", "start headless chromium", str(e).splitlines()[0] if str(e) else repr(e))
        return 1
    try:
        (phase_anon if phase == "anon" else phase_auth)(ui, spec)
    except Exception as e:  # report, then the browser still quits
        out("FAIL", "browser session ran to the end", "%s: %s" % (type(e).__name__, str(e)[:300]))
        try:
            ui.shot("zz-failure-" + phase)
        except Exception:
            pass
    finally:
        ui.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
