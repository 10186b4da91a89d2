// The language of the page: ?lang=en|zh, else the last choice, else zh.
// t(key, params) reads the message table; elements with data-i18n="key"
// (text) or data-i18n-placeholder / data-i18n-title are filled by apply().
import { MESSAGES } from "./messages.js";

const STORE = "onemap.lang";

function initial() {
  const fromUrl = new URLSearchParams(location.search).get("lang");
  if (fromUrl === "en" || fromUrl === "zh") return fromUrl;
  const stored = localStorage.getItem(STORE);
  return stored === "en" ? "en" : "zh";
}

let current = initial();
const listeners = [];

export function lang() {
  return current;
}

export function t(key, params = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** A catalogue object's label in the current language ({zh, en} or an item with zh/en keys). */
export function label(obj) {
  if (obj == null) return "";
  return (current === "en" ? obj.en : obj.zh) ?? obj.zh ?? obj.en ?? "";
}

export function apply(root = document) {
  document.documentElement.lang = current === "en" ? "en" : "zh-CN";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function setLang(value) {
  current = value === "en" ? "en" : "zh";
  localStorage.setItem(STORE, current);
  apply();
  for (const fn of listeners) fn(current);
}

export function toggleLang() {
  setLang(current === "en" ? "zh" : "en");
}

export function onLangChange(fn) {
  listeners.push(fn);
}

export function formatDistance(m) {
  if (m == null || Number.isNaN(m)) return "–";
  return m >= 1000 ? t("common.km", { n: (m / 1000).toFixed(m >= 10000 ? 0 : 1) }) : t("common.m", { n: Math.round(m) });
}

export function formatNumber(n) {
  if (n == null) return "–";
  return Number(n).toLocaleString(current === "en" ? "en-US" : "zh-CN");
}
