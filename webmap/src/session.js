// The top bar every page shares: who is logged in, the login dialog, the
// language toggle, and a toast for errors. Pages call setupSession() first.
import { keepTokenFresh, login, logout, me } from "./api.js";
import { apply, onLangChange, t, toggleLang } from "./i18n.js";

let user = null;

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

/** Wire the shared controls; resolves to the user (or null). `onLogin` runs after a login or logout. */
export async function setupSession({ onLogin = () => {} } = {}) {
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
