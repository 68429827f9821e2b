// The KYC manual-review queue: a case with its declared identity (masked unless the role may see it) and its
// images, then approve or reject. The images come inside the API's JSON (base64) and are shown from blob: URLs.

import { api } from "./api.js";
import { field, formatTime, h, loading, message, replace, table } from "./dom.js";
import { t } from "./i18n.js";

const STATUSES = ["manual_review", "submitted", "checking", "approved", "rejected"];
const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/webp"]);
let shownImages = [];

function forgetImages() {
  for (const url of shownImages) URL.revokeObjectURL(url);
  shownImages = [];
}

export async function kycQueueView(container) {
  forgetImages();
  const status = h(
    "select",
    { name: "status" },
    STATUSES.map((name) => h("option", { value: name }, t(`kyc.status.${name}`))),
  );
  const output = h("div", {});
  const show = () =>
    loading(output, async () => {
      const answer = await api("GET", "/v1/ops/kyc/verifications", { query: { status: status.value } });
      const rows = answer.verifications.map((v) =>
        h(
          "tr",
          { "data-verification": v.verification_id },
          h("td", {}, h("a", { href: `#/kyc/${encodeURIComponent(v.verification_id)}` }, v.verification_id)),
          h("td", {}, v.customer_id),
          h("td", {}, v.method),
          h("td", {}, v.document_type || ""),
          h("td", {}, t(`kyc.status.${v.status}`, v.status)),
          h("td", {}, formatTime(v.created_at)),
        ),
      );
      replace(
        output,
        rows.length
          ? table(
              [t("col.id"), t("common.customer"), t("kyc.method"), t("kyc.document"), t("common.status"), t("kyc.created_at")],
              rows,
            )
          : message(t("common.empty"), "info"),
      );
    });
  status.addEventListener("change", show);
  replace(container, h("h2", {}, t("kyc.heading")), h("div", { class: "filters" }, field(t("common.status"), status)), output);
  await show();
}

function image(item) {
  const caption = `${item.kind} (${item.content_type}, ${item.width}×${item.height})`;
  if (!item.content || !IMAGE_TYPES.has(item.content_type)) {
    return h("figure", { class: "kyc-image" }, h("figcaption", {}, caption));
  }
  const bytes = Uint8Array.from(atob(item.content), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: item.content_type }));
  shownImages.push(url);
  return h("figure", { class: "kyc-image" }, h("img", { src: url, alt: item.kind }), h("figcaption", {}, caption));
}

export async function kycView(container, verificationId) {
  forgetImages();
  await loading(container, async () => {
    const found = await api("GET", `/v1/ops/kyc/verifications/${encodeURIComponent(verificationId)}`);
    showCase(container, found, false);
  });
}

// The images and the declared identity in full are asked for apart (`images=true`, audited as such by kyc), by staff
// who choose to; kyc decides which role may (SEKISHO_KYC_IMAGE_VIEW_ROLE), and its refusal is shown here.
function imagesButton(container, found) {
  const status = h("div", { class: "form-status" });
  const button = h("button", { type: "button", class: "show-images" }, t("kyc.show_images"));
  button.addEventListener("click", async () => {
    try {
      const path = `/v1/ops/kyc/verifications/${encodeURIComponent(found.verification_id)}`;
      const full = await api("GET", path, { query: { images: "true" } });
      forgetImages();
      showCase(container, full, true);
    } catch (error) {
      replace(status, message(error.message));
    }
  });
  return h("div", {}, button, status);
}

function showCase(container, found, withImages) {
  const declared = found.declared || {};
  // After a decision the case is shown again without the images: they were needed for the decision only.
  const reload = () => kycView(container, found.verification_id);
  replace(
    container,
    h("p", {}, h("a", { href: "#/kyc" }, t("common.back"))),
    h("h2", {}, `${t("kyc.heading")} ${found.verification_id}`),
    h(
      "dl",
      { class: "facts", "data-status": found.status },
      [
        [t("common.status"), t(`kyc.status.${found.status}`, found.status)],
        [t("common.customer"), found.customer_id],
        [t("kyc.method"), found.method],
        [t("kyc.document"), found.document_type],
        [t("kyc.created_at"), formatTime(found.created_at)],
        [t("common.reason"), found.decision_reason],
      ].flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value ?? "")]),
    ),
    h("h3", {}, t("kyc.declared")),
    h(
      "dl",
      { class: "facts declared" },
      ["name", "name_kana", "birth_date", "address"].flatMap((name) => [
        h("dt", {}, t(`kyc.${name}`)),
        h("dd", { "data-field": name }, declared[name] ?? ""),
      ]),
    ),
    h("h3", {}, t("kyc.images")),
    h("div", { class: "kyc-images" }, found.images.map(image)),
    withImages ? null : imagesButton(container, found),
    h("h3", {}, t("kyc.transitions")),
    table(
      [t("common.at"), t("col.from"), t("col.to"), t("common.reason")],
      found.transitions.map((step) =>
        h(
          "tr",
          {},
          h("td", {}, formatTime(step.at)),
          h("td", {}, step.from || ""),
          h("td", {}, step.to),
          h("td", {}, step.reason || ""),
        ),
      ),
    ),
    found.status === "manual_review" ? decisions(found, reload) : null,
  );
}

function decisions(found, done) {
  const status = h("div", { class: "form-status" });
  const submit = (action, reasonInput) => async (event) => {
    event.preventDefault();
    const reason = reasonInput.value.trim();
    try {
      await api("POST", `/v1/ops/kyc/verifications/${encodeURIComponent(found.verification_id)}/${action}`, {
        body: reason || action === "reject" ? { reason } : {},
      });
      await done();
    } catch (error) {
      replace(status, message(error.message));
    }
  };
  const approveReason = h("input", { name: "approve_reason", maxlength: 300 });
  const rejectReason = h("input", { name: "reject_reason", maxlength: 300, required: true });
  const approve = h(
    "form",
    { class: "approve", events: { submit: submit("approve", approveReason) } },
    field(t("common.reason"), approveReason),
    h("button", { type: "submit" }, t("kyc.approve")),
  );
  const reject = h(
    "form",
    { class: "reject", events: { submit: submit("reject", rejectReason) } },
    field(t("kyc.reject_reason"), rejectReason),
    h("button", { type: "submit", class: "danger" }, t("kyc.reject")),
  );
  return h("div", { class: "decisions" }, approve, reject, status);
}
