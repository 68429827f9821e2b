// The console's shell: sign-in (password, then the TOTP code or a passkey), the menu by role, the language switch
// and the hash routes (#/trends, #/cases/ID, #/incidents/ID ...). Every page is built with DOM calls from the API's
// JSON (dom.js).

import { ApiError, finishLogin, hasRole, logout, scheduleRefresh, session, startLogin } from "./api.js";
import { field, h, message, onSubmit, replace } from "./dom.js";
import { applyLabels, language, setLanguage, t } from "./i18n.js";
import { auditView, listsView, switchesView } from "./views_admin.js";
import { caseView, casesView, trendsView } from "./views_fraud.js";
import { incidentsView, incidentView } from "./views_incidents.js";
import { kycQueueView, kycView } from "./views_kyc.js";
import { getAssertion, passkeysSupported, passkeysView } from "./webauthn.js";

// The least role each page needs: the menu shows only what the role may use; the API decides in the end.
const PAGES = [
  { path: "trends", role: "analyst", show: trendsView },
  { path: "cases", role: "analyst", show: casesView, detail: caseView },
  { path: "kyc", role: "analyst", show: kycQueueView, detail: kycView },
  { path: "incidents", role: "analyst", show: incidentsView, detail: incidentView },
  { path: "lists", role: "supervisor", show: listsView },
  { path: "switches", role: "admin", show: switchesView },
  { path: "audit", role: "admin", show: auditView },
  { path: "passkeys", role: "analyst", show: passkeysView },
];

const main = document.getElementById("view");
let ended = false;

function loginView(notice) {
  const loginId = h("input", { name: "login_id", autocomplete: "username", required: true, maxlength: 100 });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { class: "form-status" }, notice ? message(notice, "info") : null);
  const first = h(
    "form",
    { class: "login", id: "login-form" },
    h("h2", {}, t("login.heading")),
    field(t("login.id"), loginId),
    field(t("login.password"), password),
    h("button", { type: "submit" }, t("login.submit")),
    status,
  );
  onSubmit(first, status, async () => {
    const challenge = await startLogin(loginId.value, password.value);
    password.value = "";
    replace(main, totpForm(challenge));
    main.querySelector("#passkey-sign-in, input[name=code]").focus();
  });
  replace(main, first);
}

async function signedIn() {
  ended = false;
  if (location.hash === "#/trends") await route();
  else location.hash = "#/trends"; // the hashchange draws it
}

// Offered when the challenge lists `passkey`: the staff member's authenticator answers instead of a code.
function passkeyButton(challenge, status) {
  if (!(challenge.methods || []).includes("passkey") || !challenge.passkey || !passkeysSupported()) return null;
  const button = h("button", { type: "button", id: "passkey-sign-in" }, t("login.passkey"));
  button.addEventListener("click", async () => {
    try {
      await finishLogin(challenge, { credential: await getAssertion(challenge.passkey) });
      await signedIn();
    } catch (error) {
      const text = error instanceof ApiError ? error.message : t("passkeys.cancelled");
      replace(status, message(text));
    }
  });
  return h("p", {}, button);
}

function totpForm(challenge) {
  const code = h("input", {
    name: "code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6}",
    maxlength: 6,
    required: true,
  });
  const status = h("div", { class: "form-status" });
  const form = h(
    "form",
    { class: "login", id: "totp-form" },
    h("h2", {}, t("login.heading")),
    challenge.caution ? h("p", { class: "caution" }, challenge.caution) : null,
    passkeyButton(challenge, status),
    field(t("login.totp"), code),
    h("button", { type: "submit" }, t("login.verify")),
    status,
  );
  onSubmit(form, status, async () => {
    await finishLogin(challenge, code.value.trim());
    await signedIn();
  });
  return form;
}

function menu() {
  const nav = document.getElementById("nav");
  const kept = session();
  nav.hidden = !kept;
  for (const link of nav.querySelectorAll("a[data-page]")) {
    const page = PAGES.find((p) => p.path === link.dataset.page);
    link.hidden = !kept || !hasRole(page.role);
  }
  const who = document.getElementById("who");
  replace(who, kept ? `${kept.staff_id} (${t("role.label")}: ${kept.role})` : "");
}

async function route() {
  menu();
  if (!session()) {
    loginView(ended ? t("login.again") : null);
    return;
  }
  const [path, id] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const page = PAGES.find((p) => p.path === path) || PAGES[0];
  for (const link of document.querySelectorAll("#nav a[data-page]")) {
    link.classList.toggle("current", link.dataset.page === page.path);
  }
  if (id && page.detail) await page.detail(main, id);
  else await page.show(main);
}

document.getElementById("lang").addEventListener("click", () => {
  setLanguage(language() === "ja" ? "en" : "ja");
  applyLabels(document);
  route();
});
document.getElementById("logout").addEventListener("click", async () => {
  await logout();
});
window.addEventListener("hashchange", route);
window.addEventListener("ops-session-ended", (event) => {
  ended = event.detail.expired;
  route();
});

setLanguage(language());
applyLabels(document);
scheduleRefresh();
route();
