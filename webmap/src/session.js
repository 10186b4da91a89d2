// The top bar every page shares: who is logged in, the login dialog, the
// language toggle, and a toast for errors. Pages call setupSession() first.
import { keepTokenFresh, login, logout, me } from "./api.js";
import { apply, onLangChange, t, toggleLang } from "./i18n.js";

let user = null;

const LOGIN_DIALOG = `
  <form method="dialog" id="login-form">
    <h2 data-i18n="login.title"></h2>
    <p class="login-hint" id="login-hint" hidden></p>
    <label><span data-i18n="login.username"></span><input name="username" autocomplete="username" required></label>
    <label><span data-i18n="login.password"></span><input name="password" type="password" autocomplete="current-password" required></label>
    <p id="login-error" class="error" role="alert"></p>
    <button type="submit" data-i18n="login.submit"></button>
  </form>`;

const PAGES = [["/", "nav.map"], ["/wall", "nav.wall"], ["/planner", "nav.planner"]];

/** The login dialog, the toast, and (where the page has their slots) the page links and the user box. */
function addSharedElements(loginHint) {
  const nav = document.getElementById("nav");
  if (nav && !nav.children.length) {
    nav.innerHTML = PAGES.map(([href, key]) => `<a href="${href}" data-i18n="${key}"${location.pathname === href ? ' class="active"' : ""}></a>`).join("");
  }
  const box = document.getElementById("user-box");
  if (box && !box.children.length) {
    box.innerHTML = `<span id="user-name"></span><button id="login-button" type="button" data-i18n="login.title"></button>
      <button id="lang-toggle" type="button" data-i18n="lang.toggle"></button>`;
  }
  if (!document.getElementById("login-dialog")) {
    const dialog = document.createElement("dialog");
    dialog.id = "login-dialog";
    dialog.innerHTML = LOGIN_DIALOG;
    if (loginHint) {
      const hint = dialog.querySelector("#login-hint");
      hint.dataset.i18n = loginHint;
      hint.hidden = false;
    }
    document.body.appendChild(dialog);
  }
  if (!document.getElementById("toast")) {
    const toastEl = document.createElement("div");
    toastEl.id = "toast";
    toastEl.className = "toast";
    toastEl.setAttribute("role", "status");
    toastEl.hidden = true;
    document.body.appendChild(toastEl);
  }
}

export function currentUser() {
  return user;
}

export function toast(message, { error = false, ms = 5000 } = {}) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = message;
  el.classList.toggle("error", error);
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, ms);
}

function renderUser() {
  const name = document.getElementById("user-name");
  const button = document.getElementById("login-button");
  if (name) name.textContent = user ? t("login.as", { user: user.username }) : t("login.anonymous");
  if (button) button.textContent = user ? t("login.logout") : t("login.title");
}

/**
 * Wire the shared controls; resolves to the user (or null). `onLogin` runs after
 * a login or logout; `loginHint` is a message key shown in the login dialog.
 */
export async function setupSession({ onLogin = () => {}, loginHint = null } = {}) {
  addSharedElements(loginHint);
  apply();
  keepTokenFresh();
  user = await me();
  renderUser();
  onLangChange(renderUser);
  document.getElementById("lang-toggle")?.addEventListener("click", () => toggleLang());
  const dialog = document.getElementById("login-dialog");
  const form = document.getElementById("login-form");
  document.getElementById("login-button")?.addEventListener("click", async () => {
    if (user) {
      logout();
      user = null;
      renderUser();
      onLogin(null);
      return;
    }
    document.getElementById("login-error").textContent = "";
    dialog.showModal();
  });
  form?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    try {
      await login(String(data.get("username")), String(data.get("password")));
      user = await me();
      dialog.close();
      renderUser();
      onLogin(user);
    } catch (err) {
      document.getElementById("login-error").textContent = t("login.failed", { reason: err.message });
    }
  });
  return user;
}
