# Drives Debian's Roundcube 1.6 (elastic skin) in headless Chromium through Selenium, as a person
# would: log in, find a message in the list, open it, note the quota and whether a thread view is
# offered, write a message and send it. Prints one `KEY value` line per observation; the Rust test
# (tests/webmail_roundcube.rs) asserts on them. Every wait is bounded.
#
# argv: base_url user password subject body_marker to send_subject send_body profile_dir
#       reply_subject (a reply to `subject` in the same mailbox, for the thread view)
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

(base, user, password, subject, body_marker, to, send_subject, send_body,
 profile, reply_subject) = sys.argv[1:11]

WAIT = 30


def say(key, value=""):
    print(f"{key} {value}".rstrip(), flush=True)


def messages(driver):
    """What Roundcube displayed in its message stack since the page that installed the hook."""
    try:
        return driver.execute_script("return sessionStorage.getItem('rc-messages') || ''")
    except WebDriverException:
        return ""


# Roundcube fires a `message` event for everything it shows in its message stack ("Login
# failed.", "Message sent successfully.", "SMTP Error (535): …"); the confirmation after sending
# stays up only 500 ms before the page changes, so each one is also kept in sessionStorage.
HOOK = """
if (window.rcmail && !window.__rcHooked) {
  window.__rcHooked = true;
  rcmail.addEventListener('message', function (e) {
    var seen = sessionStorage.getItem('rc-messages') || '';
    sessionStorage.setItem('rc-messages', seen + e.type + ': ' + e.message + '\\n');
  });
}
"""

opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--no-first-run", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
            f"--user-data-dir={profile}"):
    opts.add_argument(arg)
service = Service("/usr/bin/chromedriver", log_path=f"{profile}/../chromedriver.log")
driver = webdriver.Chrome(service=service, options=opts)
driver.set_page_load_timeout(WAIT)
driver.set_script_timeout(WAIT)
wait = WebDriverWait(driver, WAIT, poll_frequency=0.05)
start = time.monotonic()
try:
    # --- log in -------------------------------------------------------------------------------
    driver.get(base + "/")
    wait.until(EC.presence_of_element_located((By.ID, "rcmloginuser")))
    driver.execute_script(HOOK)
    driver.find_element(By.ID, "rcmloginuser").send_keys(user)
    driver.find_element(By.ID, "rcmloginpwd").send_keys(password)
    submit = driver.find_element(By.ID, "rcmloginsubmit")
    submit.click()
    # The form posts and a new page comes: the mailbox, or the login form again with the reason
    # in the message stack ("Login failed.").
    wait.until(EC.staleness_of(submit))
    wait.until(lambda d: d.find_elements(By.ID, "messagelist")
               or d.find_elements(By.ID, "rcmloginuser"))
    if not driver.find_elements(By.ID, "messagelist"):
        try:
            wait.until(lambda d: d.find_element(By.ID, "messagestack").text.strip())
        except TimeoutException:
            pass
        stack = " | ".join(e.text for e in driver.find_elements(By.ID, "messagestack"))
        say("LOGIN_FAILED", stack or driver.title)
        sys.exit(0)
    say("LOGGED_IN", driver.current_url)
    say("LOGIN_SECONDS", f"{time.monotonic() - start:.2f}")
    driver.execute_script(HOOK)

    # --- the message list ---------------------------------------------------------------------
    row_xpath = f"//table[@id='messagelist']//tr[contains(., '{subject}')]"
    try:
        row = wait.until(EC.element_to_be_clickable((By.XPATH, row_xpath)))
        say("LISTED", row.text.replace("\n", " | "))
    except TimeoutException:
        say("NOT_LISTED", driver.find_element(By.ID, "messagelist").text.replace("\n", " | "))
        sys.exit(0)

    # The list options offer a thread mode only when the server supports THREAD.
    say("THREADS_OFFERED", "yes" if driver.find_elements(By.ID, "listoptions-threads") else "no")
    # The quota widget: present when the server has QUOTA; it shows the percentage used, and its
    # tooltip ("Quota: 1 KB / 10 MB (0%)", the title of its count) usage and limit.
    count = driver.find_elements(By.CSS_SELECTOR, "#quotadisplay .count")
    if count:
        try:
            wait.until(lambda d: count[0].get_attribute("title"))
        except TimeoutException:
            pass
        say("QUOTA", f"{count[0].get_attribute('title')} shown as {count[0].text!r}")
    else:
        say("QUOTA", "(no widget)")

    # --- open it: the preview frame shows the body --------------------------------------------
    row.click()
    wait.until(EC.frame_to_be_available_and_switch_to_it((By.ID, "messagecontframe")))
    try:
        body = wait.until(EC.presence_of_element_located((By.ID, "messagebody")))
        wait.until(lambda d: body_marker in d.find_element(By.ID, "messagebody").text)
        say("OPENED", body.text.replace("\n", " | "))
    except TimeoutException:
        say("NOT_OPENED", driver.find_element(By.TAG_NAME, "body").text.replace("\n", " | "))
        sys.exit(0)
    driver.switch_to.default_content()

    # --- compose and send ---------------------------------------------------------------------
    driver.get(base + "/?_task=mail&_action=compose")
    to_input = wait.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, "#compose_to .recipient-input input")))
    driver.execute_script(HOOK)
    to_input.send_keys(to + ", ")
    driver.find_element(By.ID, "compose-subject").send_keys(send_subject)
    driver.find_element(By.ID, "composebody").send_keys(send_body)
    driver.find_element(By.CSS_SELECTOR, ".btn.send").click()
    try:
        wait.until(lambda d: "sent" in messages(d).lower() or "error" in messages(d))
    except TimeoutException:
        pass
    seen = messages(driver).replace("\n", " | ")
    if "error" in seen or "sent" not in seen.lower():
        say("SEND_FAILED", seen)
    else:
        say("SENT", seen)

    # --- the thread view: what the list options' "Threads" mode asks for (`_threads=1`) -------
    driver.get(base + "/?_task=mail&_mbox=INBOX&_threads=1")
    try:
        expando = wait.until(EC.presence_of_element_located(
            (By.CSS_SELECTOR, "#messagelist [id^='rcmexpando']")))
        root = expando.find_element(By.XPATH, "./ancestor::tr")
        reply_xpath = f"//table[@id='messagelist']//tr[contains(., '{reply_subject}')]"
        hidden = not any(r.is_displayed() for r in driver.find_elements(By.XPATH, reply_xpath))
        say("THREADED", f"{root.text.splitlines()[0] if root.text else ''} "
            f"{expando.get_attribute('class')} reply_hidden={'yes' if hidden else 'no'}")
        expando.click()
        reply = wait.until(EC.visibility_of_element_located((By.XPATH, reply_xpath)))
        say("THREAD_EXPANDED", reply.text.replace("\n", " | "))
    except TimeoutException:
        say("NOT_THREADED", driver.find_element(By.ID, "messagelist").text.replace("\n", " | "))
    say("TOTAL_SECONDS", f"{time.monotonic() - start:.2f}")
finally:
    driver.quit()
