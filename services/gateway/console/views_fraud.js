// Fraud desk pages: the access trends (MON-1), the case queue, and a case with its reasons, events and resolution.

import { api, hasRole, session } from "./api.js";
import { legend, trendChart } from "./chart.js";
import { field, formatTime, h, loading, message, onSubmit, replace, table } from "./dom.js";
import { t } from "./i18n.js";

export const CHANNELS = ["app", "web", "atm", "ops", "system", "unknown"];

export async function trendsView(container) {
  const range = h(
    "select",
    { name: "range" },
    ["24", "72", "168"].map((hours) => h("option", { value: hours }, t(`trends.range.${hours}`))),
  );
  // The event types to filter by: those the API has shown in this view so far (fraud adds types as issues land).
  const type = h("select", { name: "type" }, h("option", { value: "" }, t("trends.type.all")));
  const seenTypes = new Set();
  const offerTypes = (series) => {
    for (const point of series) seenTypes.add(point.type);
    const chosen = type.value;
    type.replaceChildren(
      h("option", { value: "" }, t("trends.type.all")),
      ...[...seenTypes].sort().map((name) => h("option", { value: name }, name)),
    );
    type.value = chosen;
  };
  // The channels are a closed set the API names (shared/channels.py): offered whatever this window holds.
  const channel = h(
    "select",
    { name: "channel" },
    h("option", { value: "" }, t("trends.channel.all")),
    CHANNELS.map((name) => h("option", { value: name }, t(`channel.${name}`))),
  );
  const output = h("div", { class: "trend" });
  const draw = () =>
    loading(output, async () => {
      const since = new Date(Date.now() - Number(range.value) * 3600 * 1000).toISOString();
      const query = { bucket: "hour", since, type: type.value, channel: channel.value };
      const answer = await api("GET", "/v1/ops/fraud/trends", { query });
      offerTypes(answer.series);
      replace(
        output,
        h("p", { class: "window" }, `${t("trends.window")}: ${formatTime(answer.since)} – ${formatTime(answer.until)}`),
        answer.series.length ? trendChart(answer, t("trends.chart")) : message(t("common.empty"), "info"),
        legend(answer),
      );
    });
  range.addEventListener("change", draw);
  type.addEventListener("change", draw);
  channel.addEventListener("change", draw);
  replace(
    container,
    h("h2", {}, t("trends.heading")),
    h(
      "div",
      { class: "filters" },
      field(t("trends.range"), range),
      field(t("trends.type"), type),
      field(t("trends.channel"), channel),
    ),
    output,
  );
  await draw();
}

const CASE_STATUSES = ["open", "in_review", "escalated", "resolved"];
// What a case may move to by /status (the API's rule; resolving is its own form, from any unresolved status).
const CASE_MOVES = { open: ["in_review"], in_review: ["escalated"], escalated: ["in_review"] };

export async function casesView(container) {
  const status = h(
    "select",
    { name: "status" },
    CASE_STATUSES.map((name) => h("option", { value: name }, t(`cases.${name}`))),
  );
  const mine = h("input", { name: "mine", type: "checkbox" });
  const output = h("div", {});
  const show = (cursor) =>
    loading(output, async () => {
      const query = { status: status.value, assignee: mine.checked ? session().staff_id : "", cursor };
      const answer = await api("GET", "/v1/ops/fraud/cases", { query });
      const rows = answer.cases.map((found) =>
        h(
          "tr",
          { "data-case": found.id },
          h("td", {}, h("a", { href: `#/cases/${encodeURIComponent(found.id)}` }, found.id)),
          h("td", {}, formatTime(found.opened_at)),
          h("td", {}, found.operation),
          h("td", {}, found.customer_id || ""),
          h("td", { class: "number" }, found.score),
          h("td", {}, found.reasons.map((reason) => reason.rule).join(", ")),
          h("td", {}, t(`cases.${found.status}`, found.status)),
          h("td", {}, found.assignee || ""),
        ),
      );
      const more = answer.next_cursor
        ? h("button", { type: "button", class: "next-page", events: { click: () => show(answer.next_cursor) } }, t("common.next"))
        : null;
      replace(
        output,
        rows.length
          ? table(
              [
                t("col.id"),
                t("cases.opened_at"),
                t("cases.operation"),
                t("common.customer"),
                t("cases.score"),
                t("cases.reasons"),
                t("common.status"),
                t("cases.assignee"),
              ],
              rows,
            )
          : message(t("common.empty"), "info"),
        more,
      );
    });
  status.addEventListener("change", () => show());
  mine.addEventListener("change", () => show());
  replace(
    container,
    h("h2", {}, t("cases.heading")),
    h(
      "div",
      { class: "filters" },
      field(t("common.status"), status),
      h("label", { class: "check" }, mine, ` ${t("cases.mine")}`),
    ),
    output,
  );
  await show();
}

function facts(pairs, attrs = {}) {
  return h(
    "dl",
    { class: "facts", ...attrs },
    pairs.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value === null || value === undefined ? "" : value)]),
  );
}

// Take the case, or (supervisor and up) give it to a staff member by id: the API's rule, 403 otherwise.
function assignForm(found, done) {
  const me = session().staff_id;
  const status = h("div", { class: "form-status" });
  const assign = async (staffId) => {
    try {
      const body = staffId ? { staff_id: staffId } : {};
      await api("POST", `/v1/ops/fraud/cases/${encodeURIComponent(found.id)}/assign`, { body });
      await done();
    } catch (error) {
      replace(status, message(error.message));
    }
  };
  const take =
    found.assignee === me
      ? h("p", { class: "note yours" }, t("cases.yours"))
      : h("button", { type: "button", class: "take", events: { click: () => assign(null) } }, t("cases.take"));
  let give = null;
  if (hasRole("supervisor")) {
    const staffId = h("input", { name: "staff_id", maxlength: 40, required: true });
    give = h("form", { class: "inline give" }, field(t("cases.assign_to"), staffId), h("button", { type: "submit" }, t("cases.assign")));
    give.addEventListener("submit", (event) => {
      event.preventDefault();
      assign(staffId.value.trim());
    });
  }
  return h("div", { class: "panel case-assign" }, h("h3", {}, t("cases.assignment")), take, give, status);
}

function statusMoveForm(found, done) {
  const moves = CASE_MOVES[found.status] || [];
  if (!moves.length) return null;
  const next = h("select", { name: "status" }, moves.map((name) => h("option", { value: name }, t(`cases.${name}`))));
  const status = h("div", { class: "form-status" });
  const form = h(
    "form",
    { class: "panel case-status" },
    h("h3", {}, t("cases.move")),
    field(t("common.status"), next),
    h("button", { type: "submit" }, t("cases.move_submit")),
    status,
  );
  onSubmit(form, status, async () => {
    await api("POST", `/v1/ops/fraud/cases/${encodeURIComponent(found.id)}/status`, { body: { status: next.value } });
    await done();
  });
  return form;
}

function comments(found, done) {
  const text = h("textarea", { name: "comment", rows: 3, maxlength: 4000, required: true });
  const status = h("div", { class: "form-status" });
  const form = h(
    "form",
    { class: "panel case-comment" },
    field(t("cases.comment"), text),
    h("button", { type: "submit" }, t("cases.comment_submit")),
    status,
  );
  onSubmit(form, status, async () => {
    await api("POST", `/v1/ops/fraud/cases/${encodeURIComponent(found.id)}/comments`, { body: { text: text.value } });
    await done();
  });
  const list = (found.comments || []).map((comment) =>
    h(
      "li",
      { "data-comment": comment.id },
      h("span", { class: "when" }, formatTime(comment.at)),
      h("span", { class: "kind" }, comment.by),
      h("span", { class: "text" }, comment.text),
    ),
  );
  return [
    h("h3", {}, t("cases.comments")),
    list.length ? h("ol", { class: "timeline comments" }, list) : message(t("common.empty"), "info"),
    form,
  ];
}

function resolveForm(found, done) {
  const label = h(
    "select",
    { name: "label", required: true },
    h("option", { value: "fraud" }, t("cases.label.fraud")),
    h("option", { value: "legit" }, t("cases.label.legit")),
  );
  const note = h("textarea", { name: "note", rows: 3, maxlength: 2000, required: true });
  const status = h("div", { class: "form-status" });
  const form = h(
    "form",
    { class: "resolve" },
    h("h3", {}, t("cases.resolve")),
    field(t("cases.label"), label),
    field(t("common.note"), note),
    h("button", { type: "submit" }, t("cases.submit")),
    status,
  );
  onSubmit(form, status, async () => {
    await api("POST", `/v1/ops/fraud/cases/${encodeURIComponent(found.id)}/resolve`, {
      body: { label: label.value, note: note.value },
    });
    await done();
  });
  return form;
}

export async function caseView(container, caseId) {
  const again = () => caseView(container, caseId);
  await loading(container, async () => {
    const found = await api("GET", `/v1/ops/fraud/cases/${encodeURIComponent(caseId)}`);
    const events = found.customer_id
      ? (await api("GET", "/v1/ops/fraud/events", { query: { customer_id: found.customer_id, limit: 20 } })).events
      : [];
    const linked = Object.entries(found.linked || {})
      .filter(([, links]) => links && Array.isArray(links.customers))
      .flatMap(([kind, links]) => links.customers.map((customer) => [kind, customer]));
    replace(
      container,
      h("p", {}, h("a", { href: "#/cases" }, t("common.back"))),
      h("h2", {}, `${t("cases.heading")} ${found.id}`),
      facts([
        [t("common.status"), t(`cases.${found.status}`, found.status)],
        [t("cases.opened_at"), formatTime(found.opened_at)],
        [t("cases.operation"), found.operation],
        [t("common.customer"), found.customer_id],
        [t("cases.device"), found.device_id],
        [t("cases.ip"), found.ip],
        [t("cases.score"), found.score],
        [t("cases.label"), found.label ? t(`cases.label.${found.label}`, found.label) : ""],
        [t("common.note"), found.note],
        [t("cases.resolved_by"), found.resolved_by],
        [t("cases.assignee"), found.assignee],
      ], { "data-status": found.status, "data-assignee": found.assignee || "" }),
      h("h3", {}, t("cases.reasons")),
      table(
        [t("col.rule"), t("col.weight"), t("common.reason")],
        found.reasons.map((r) => h("tr", {}, h("td", {}, r.rule), h("td", { class: "number" }, r.weight), h("td", {}, r.reason))),
      ),
      h("h3", {}, t("cases.actions")),
      h("ul", {}, found.actions.map((action) => h("li", {}, action.action || JSON.stringify(action)))),
      h("h3", {}, t("cases.events")),
      events.length
        ? table(
            [t("common.at"), t("events.type"), t("events.outcome"), t("events.channel"), t("cases.ip"), t("cases.device")],
            events.map((e) =>
              h(
                "tr",
                {},
                h("td", {}, formatTime(e.occurred_at)),
                h("td", {}, e.type),
                h("td", {}, e.outcome),
                h("td", {}, t(`channel.${e.channel || "unknown"}`, e.channel)),
                h("td", {}, e.ip || ""),
                h("td", {}, e.device_digest || e.device_id || ""),
              ),
            ),
          )
        : message(t("common.empty"), "info"),
      h("h3", {}, t("cases.linked")),
      linked.length
        ? table(
            [t("common.customer"), t("col.via"), t("col.events")],
            linked.map(([kind, c]) =>
              h("tr", {}, h("td", {}, c.customer_id), h("td", {}, `${kind}: ${c.via.join(", ")}`), h("td", { class: "number" }, c.events)),
            ),
          )
        : message(t("common.empty"), "info"),
      comments(found, again),
      found.status !== "resolved" ? assignForm(found, again) : null,
      found.status !== "resolved" ? statusMoveForm(found, again) : null,
      found.status !== "resolved" ? resolveForm(found, again) : null,
    );
  });
}
