// Passkeys in the console: the WebAuthn options of the API (JSON, binary fields in base64url) handed to the browser's
// authenticator, and its credential turned back into the JSON the API verifies; and "my passkeys", where a staff
// member registers or removes their own (the API asks for a sign-in within the last minutes for either).

import { api, ApiError } from "./api.js";
import { formatTime, h, loading, message, replace, table } from "./dom.js";
import { t } from "./i18n.js";

function toBuffer(b64url) {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64url.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  let text = "";
  for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const descriptors = (list) => (list || []).map((c) => ({ ...c, id: toBuffer(c.id) }));

// A PublicKeyCredential as the JSON the API reads; `response`: its response's fields, already in base64url.
function credentialJSON(made, response) {
  return {
    id: made.id,
    rawId: toB64url(made.rawId),
    type: made.type,
    authenticatorAttachment: made.authenticatorAttachment,
    clientExtensionResults: made.getClientExtensionResults(),
    response: { clientDataJSON: toB64url(made.response.clientDataJSON), ...response },
  };
}

export function passkeysSupported() {
  return Boolean(window.PublicKeyCredential && navigator.credentials);
}

// navigator.credentials.get() for a sign-in challenge's `passkey` options: the assertion as JSON.
export async function getAssertion(options) {
  const publicKey = {
    ...options,
    challenge: toBuffer(options.challenge),
    allowCredentials: descriptors(options.allowCredentials),
  };
  const used = await navigator.credentials.get({ publicKey });
  return credentialJSON(used, {
    authenticatorData: toB64url(used.response.authenticatorData),
    signature: toB64url(used.response.signature),
    userHandle: used.response.userHandle ? toB64url(used.response.userHandle) : null,
  });
}

async function createCredential(options) {
  const publicKey = {
    ...options,
    challenge: toBuffer(options.challenge),
    user: { ...options.user, id: toBuffer(options.user.id) },
    excludeCredentials: descriptors(options.excludeCredentials),
  };
  const made = await navigator.credentials.create({ publicKey });
  return credentialJSON(made, {
    attestationObject: toB64url(made.response.attestationObject),
    transports: made.response.getTransports ? made.response.getTransports() : [],
  });
}

function problemText(error) {
  if (error instanceof ApiError && error.code === "fresh_sign_in_required") return t("passkeys.fresh");
  if (error instanceof DOMException) return t("passkeys.cancelled");
  return error instanceof Error ? error.message : String(error);
}

// "My passkeys": the staff member's own, one button to add one (named), one per passkey to remove it.
export async function passkeysView(main) {
  const status = h("div", { class: "form-status" });
  const list = h("div", { id: "passkey-list" });
  const name = h("input", { name: "passkey_name", maxlength: 64, placeholder: t("passkeys.name") });
  const add = h("button", { type: "submit" }, t("passkeys.add"));
  const form = h("form", { id: "passkey-form" }, name, add);

  async function draw() {
    const rows = await api("GET", "/v1/ops/auth/passkeys");
    if (!rows.length) {
      replace(list, message(t("passkeys.none"), "info"));
      return;
    }
    replace(
      list,
      table(
        [t("passkeys.name"), t("passkeys.kind"), t("passkeys.created"), t("passkeys.last_used"), ""],
        rows.map((row) =>
          h(
            "tr",
            { "data-passkey": row.passkey_id },
            h("td", {}, row.name),
            h("td", {}, row.kind),
            h("td", {}, formatTime(row.created_at)),
            h("td", {}, formatTime(row.last_used_at)),
            h(
              "td",
              {},
              h(
                "button",
                { type: "button", class: "remove", events: { click: () => remove(row.passkey_id) } },
                t("passkeys.remove"),
              ),
            ),
          ),
        ),
      ),
    );
  }

  async function remove(passkeyId) {
    try {
      await api("DELETE", `/v1/ops/auth/passkeys/${encodeURIComponent(passkeyId)}`);
      replace(status, message(t("passkeys.removed"), "info"));
      await draw();
    } catch (error) {
      if (!error.sessionEnded) replace(status, message(problemText(error)));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    add.disabled = true;
    try {
      const started = await api("POST", "/v1/ops/auth/passkeys/registration");
      const credential = await createCredential(started.options);
      const body = { credential, ...(name.value.trim() ? { name: name.value.trim() } : {}) };
      await api("POST", `/v1/ops/auth/passkeys/registration/${encodeURIComponent(started.registration_id)}`, { body });
      name.value = "";
      replace(status, message(t("passkeys.added"), "info"));
      await draw();
    } catch (error) {
      if (!error.sessionEnded) replace(status, message(problemText(error)));
    } finally {
      add.disabled = false;
    }
  });

  replace(
    main,
    h("section", { id: "passkeys" }, h("h2", {}, t("passkeys.heading")), h("p", { class: "note" }, t("passkeys.about"))),
  );
  main.firstChild.append(form, status, list);
  if (!passkeysSupported()) replace(status, message(t("passkeys.unsupported")));
  await loading(list, draw);
}
