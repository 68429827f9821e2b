// Incident response pages (INC-1..3, INC-8): the incidents, newest first, and an incident with its timeline, a form to
// add a fact (or a decision, a notice sent, an action), its status moved on with a reason, and the report drafts
// downloaded as HTML or PDF. What a role cannot do is not offered; the API decides in the end.

import { api, download, hasRole } from "./api.js";
import { field, formatTime, h, loading, message, onSubmit, replace, table } from "./dom.js";
import { t } from "./i18n.js";

const STATUSES = ["open", "contained", "resolved", "closed"];
const KINDS = ["unauthorized_access", "account_takeover", "data_leak", "bank_link_abuse", "other"];
const ENTRY_KINDS = ["fact", "decision", "notice", "action"];
const REPORTS = ["supervisor", "personal_data_leak", "police"];

function options(values, prefix, blank) {
  return [
    blank ? h("option", { value: "" }, blank) : null,
    ...values.map((value) => h("option", { value }, t(`${prefix}.${value}`, value))),
  ];
}

// A datetime-local value is the browser's local time; the API takes RFC 3339 with its offset.
function isoFromLocal(value) {
  return value ? new Date(value).toISOString() : undefined;
}

function openForm() {
  const title = h("input", { name: "title", required: true, maxlength: 200 });
  const kind = h("select", { name: "kind", required: true }, options(KINDS, "incidents.kind"));
  const summary = h("textarea", { name: "summary", rows: 3, maxlength: 4000, required: true });
  const detected = h("input", { name: "detected_at", type: "datetime-local", required: true });
  const status = h("div", { class: "form-status" });
  const form = h(
    "form",
    { class: "panel open-incident" },
    h("h3", {}, t("incidents.open_new")),
    field(t("incidents.title"), title),
    field(t("incidents.kind"), kind),
    field(t("incidents.summary"), summary),
    field(t("incidents.detected_at"), detected),
    h("button", { type: "submit" }, t("incidents.open_submit")),
    status,
  );
  onSubmit(form, status, async () => {
    const body = { title: title.value, kind: kind.value, summary: summary.value };
    body.detected_at = isoFromLocal(detected.value);
    const opened = await api("POST", "/v1/ops/incidents", { body });
    location.hash = `#/incidents/${encodeURIComponent(opened.id)}`;
  });
  return form;
}

export async function incidentsView(container) {
  const status = h("select", { name: "status" }, options(STATUSES, "incidents.status", t("incidents.status.all")));
  const output = h("div", {});
  const show = (cursor) =>
    loading(output, async () => {
      const answer = await api("GET", "/v1/ops/incidents", { query: { status: status.value, cursor } });
      const rows = answer.incidents.map((found) =>
        h(
          "tr",
          { "data-incident": found.id },
          h("td", {}, h("a", { href: `#/incidents/${encodeURIComponent(found.id)}` }, found.id)),
          h("td", {}, found.title),
          h("td", {}, t(`incidents.kind.${found.kind}`, found.kind)),
          h("td", {}, t(`incidents.status.${found.status}`, found.status)),
          h("td", {}, formatTime(found.detected_at)),
        ),
      );
      const more = answer.next_cursor
        ? h("button", { type: "button", class: "next-page", events: { click: () => show(answer.next_cursor) } }, t("common.next"))
        : null;
      replace(
        output,
        rows.length
          ? table(
              [t("col.id"), t("incidents.title"), t("incidents.kind"), t("common.status"), t("incidents.detected_at")],
              rows,
            )
          : message(t("common.empty"), "info"),
        more,
      );
    });
  status.addEventListener("change", () => show());
  replace(
    container,
    h("h2", {}, t("incidents.heading")),
    h("div", { class: "filters" }, field(t("common.status"), status)),
    output,
    hasRole("supervisor") ? openForm() : null,
  );
  await show();
}

function timeline(entries) {
  return h(
    "ol",
    { class: "timeline" },
    entries.map((entry) =>
      h(
        "li",
        { "data-kind": entry.kind, "data-seq": entry.seq },
        h("span", { class: "when" }, formatTime(entry.at)),
        h("span", { class: "kind" }, t(`incidents.entry.${entry.kind}`, entry.kind)),
        h("span", { class: "text" }, entry.text),
        entry.kind === "status" && entry.data && entry.data.to
          ? h(
              "span",
              { class: "note" },
              `${t(`incidents.status.${entry.data.from}`, entry.data.from)} → ${t(`incidents.status.${entry.data.to}`, entry.data.to)}`,
            )
          : null,
        h("span", { class: "note" }, `${t("incidents.recorded_by")}: ${entry.recorded_by} ${formatTime(entry.recorded_at)}`),
      ),
    ),
  );
}

function entryForm(incident, done) {
  const kind = h("select", { name: "kind" }, options(ENTRY_KINDS, "incidents.entry"));
  const text = h("textarea", { name: "text", rows: 3, maxlength: 4000, required: true });
  const at = h("input", { name: "at", type: "datetime-local" });
  const status = h("div", { class: "form-status" });
  const form = h(
    "form",
    { class: "panel add-entry" },
    h("h3", {}, t("incidents.add_entry")),
    field(t("incidents.entry_kind"), kind),
    field(t("incidents.entry_text"), text),
    field(t("incidents.entry_at"), at),
    h("button", { type: "submit" }, t("incidents.add_submit")),
    status,
  );
  onSubmit(form, status, async () => {
    const body = { kind: kind.value, text: text.value, at: isoFromLocal(at.value) };
    await api("POST", `/v1/ops/incidents/${encodeURIComponent(incident.id)}/timeline`, { body });
    await done();
  });
  return form;
}

function statusForm(incident, done) {
  const next = h("select", { name: "status" }, options(STATUSES.filter((s) => s !== incident.status), "incidents.status"));
  const reason = h("textarea", { name: "reason", rows: 2, maxlength: 1000, required: true });
  const reopen = h("input", { name: "reopen", type: "checkbox" });
  const status = h("div", { class: "form-status" });
  const form = h(
    "form",
    { class: "panel incident-status" },
    h("h3", {}, t("incidents.change_status")),
    field(t("incidents.new_status"), next),
    field(t("common.reason"), reason),
    h("label", { class: "check" }, reopen, ` ${t("incidents.reopen")}`),
    h("button", { type: "submit" }, t("incidents.status_submit")),
    status,
  );
  onSubmit(form, status, async () => {
    const body = { status: next.value, reason: reason.value, reopen: reopen.checked };
    await api("POST", `/v1/ops/incidents/${encodeURIComponent(incident.id)}/status`, { body });
    await done();
  });
  return form;
}

// Fetched with the token, saved from a blob: the file name says the incident, the report and the format.
function reportLinks(incident) {
  const status = h("div", { class: "form-status" });
  const save = async (kind, format) => {
    try {
      const path = `/v1/ops/incidents/${encodeURIComponent(incident.id)}/reports/${kind}`;
      const blob = await download(path, { query: { format } });
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `${incident.id}-${kind}.${format}`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      replace(status, message(t("incidents.downloaded"), "info"));
    } catch (error) {
      if (!error.sessionEnded) replace(status, message(error.message));
    }
  };
  return h(
    "div",
    { class: "panel reports" },
    h("h3", {}, t("incidents.reports")),
    h(
      "ul",
      {},
      REPORTS.map((kind) =>
        h(
          "li",
          {},
          `${t(`incidents.report.${kind}`)}: `,
          ["html", "pdf"].map((format) =>
            h(
              "button",
              { type: "button", class: "download", "data-report": kind, "data-format": format, events: { click: () => save(kind, format) } },
              format.toUpperCase(),
            ),
          ),
        ),
      ),
    ),
    status,
  );
}

export async function incidentView(container, incidentId) {
  const again = () => incidentView(container, incidentId);
  await loading(container, async () => {
    const found = await api("GET", `/v1/ops/incidents/${encodeURIComponent(incidentId)}`);
    const supervisor = hasRole("supervisor");
    replace(
      container,
      h("p", {}, h("a", { href: "#/incidents" }, t("common.back"))),
      h("h2", {}, `${t("incidents.one")} ${found.id}`),
      h(
        "dl",
        { class: "facts", "data-status": found.status },
        [
          [t("incidents.title"), found.title],
          [t("common.status"), t(`incidents.status.${found.status}`, found.status)],
          [t("incidents.kind"), t(`incidents.kind.${found.kind}`, found.kind)],
          [t("incidents.summary"), found.summary],
          [t("incidents.detected_at"), formatTime(found.detected_at)],
          [t("incidents.occurred_at"), formatTime(found.occurred_at)],
          [t("incidents.created_by"), found.created_by],
          [t("incidents.customers"), `${found.customers.affected_customers} (${t("incidents.contained")}: ${found.customers.contained}, ${t("incidents.failed")}: ${found.customers.failed})`],
        ].flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value ?? "")]),
      ),
      h("h3", {}, t("incidents.timeline")),
      timeline(found.timeline),
      found.status === "closed" ? message(t("incidents.closed_note"), "info") : entryForm(found, again),
      supervisor && found.status !== "closed" ? statusForm(found, again) : null,
      supervisor ? reportLinks(found) : null,
    );
  });
}
