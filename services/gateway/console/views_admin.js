// Supervisor and admin pages: the deny and allow lists, the kill switches and the audit trail. The menu hides them
// from lower roles; the API refuses them anyway (403), and the refusal's detail is what the page shows.

import { api } from "./api.js";
import { field, formatTime, h, loading, message, onSubmit, replace, table } from "./dom.js";
import { t } from "./i18n.js";

const LISTS = ["ips", "devices", "customers", "bank_accounts"];

export async function listsView(container) {
  const list = h("select", { name: "list" }, LISTS.map((name) => h("option", { value: name }, t(`lists.${name}`))));
  const output = h("div", {});
  const status = h("div", { class: "form-status" });
  const path = () => `/v1/ops/fraud/lists/${encodeURIComponent(list.value)}/entries`;
  const show = () =>
    loading(output, async () => {
      const answer = await api("GET", path());
      const rows = answer.entries.map((entry) => {
        const remove = h("button", { type: "button", class: "danger" }, t("lists.remove"));
        remove.addEventListener("click", async () => {
          try {
            await api("DELETE", path(), { query: { value: entry.value, kind: entry.kind } });
            await show();
          } catch (error) {
            replace(status, message(error.message));
          }
        });
        return h(
          "tr",
          { "data-entry": entry.id },
          h("td", {}, entry.value),
          h("td", {}, t(`lists.kind.${entry.kind}`)),
          h("td", { class: "note" }, entry.note),
          h("td", {}, entry.source),
          h("td", {}, formatTime(entry.created_at)),
          h("td", {}, formatTime(entry.expires_at)),
          h("td", {}, remove),
        );
      });
      replace(
        output,
        rows.length
          ? table(
              [t("lists.value"), t("lists.kind"), t("common.note"), t("lists.source"), t("common.at"), t("col.expires"), ""],
              rows,
            )
          : message(t("common.empty"), "info"),
      );
    });
  const value = h("input", { name: "value", maxlength: 200, required: true });
  const kind = h(
    "select",
    { name: "kind" },
    ["deny", "allow"].map((name) => h("option", { value: name }, t(`lists.kind.${name}`))),
  );
  const note = h("input", { name: "note", maxlength: 500, required: true });
  const add = h(
    "form",
    { class: "add-entry" },
    field(t("lists.value"), value),
    field(t("lists.kind"), kind),
    field(t("common.note"), note),
    h("button", { type: "submit" }, t("lists.add")),
  );
  onSubmit(add, status, async () => {
    await api("PUT", path(), { body: { value: value.value, kind: kind.value, note: note.value } });
    add.reset();
    replace(status, message(t("common.saved"), "info"));
    await show();
  });
  list.addEventListener("change", show);
  replace(
    container,
    h("h2", {}, t("lists.heading")),
    h("div", { class: "filters" }, field(t("lists.list"), list)),
    add,
    status,
    output,
  );
  await show();
}

function switchRow(operation, partnerId, current, refresh, status) {
  const active = Boolean(current && current.active);
  const reason = h("input", { name: "reason", maxlength: 500, required: true });
  const form = h(
    "form",
    { class: "switch" },
    field(t("common.reason"), reason),
    h("button", { type: "submit", class: active ? "" : "danger" }, active ? t("switches.resume") : t("switches.stop")),
  );
  onSubmit(form, status, async () => {
    const body = { active: !active, reason: reason.value };
    if (partnerId) body.partner_id = partnerId;
    await api("PUT", `/v1/ops/kill-switches/${encodeURIComponent(operation)}`, { body });
    await refresh();
  });
  return h(
    "tr",
    { "data-operation": operation, "data-partner": partnerId || "", "data-active": String(active) },
    h("td", {}, operation),
    h("td", {}, partnerId || "*"),
    h("td", { class: active ? "stopped" : "running" }, active ? t("switches.active") : t("switches.inactive")),
    h("td", {}, current ? current.reason : ""),
    h("td", {}, current ? `${current.set_by} ${formatTime(current.set_at)}` : ""),
    h("td", {}, form),
  );
}

export async function switchesView(container) {
  const status = h("div", { class: "form-status" });
  const output = h("div", {});
  const show = () =>
    loading(output, async () => {
      const answer = await api("GET", "/v1/ops/kill-switches");
      const global = new Map(answer.kill_switches.filter((s) => !s.partner_id).map((s) => [s.operation, s]));
      const rows = answer.operations.map((operation) => switchRow(operation, null, global.get(operation), show, status));
      for (const one of answer.kill_switches.filter((s) => s.partner_id)) {
        rows.push(switchRow(one.operation, one.partner_id, one, show, status));
      }
      replace(
        output,
        table(
          [t("switches.operation"), t("col.partner"), t("switches.state"), t("common.reason"), t("switches.set_by"), ""],
          rows,
        ),
      );
    });
  replace(container, h("h2", {}, t("switches.heading")), status, output);
  await show();
}

export async function auditView(container) {
  const actor = h("input", { name: "actor", maxlength: 40 });
  const action = h("input", { name: "action", maxlength: 40 });
  const target = h("input", { name: "target_id", maxlength: 80 });
  const since = h("input", { name: "since", type: "datetime-local" });
  const output = h("div", {});
  const search = () =>
    loading(output, async () => {
      const query = {
        actor: actor.value.trim(),
        action: action.value.trim(),
        target_id: target.value.trim(),
        since: since.value ? `${since.value}${since.value.length === 16 ? ":00" : ""}Z` : "",
      };
      const answer = await api("GET", "/v1/ops/audit", { query });
      const rows = answer.entries.map((entry) =>
        h(
          "tr",
          { "data-entry": entry.entry_id },
          h("td", {}, formatTime(entry.at)),
          h("td", {}, entry.service),
          h("td", {}, entry.actor_id),
          h("td", {}, entry.actor_role),
          h("td", {}, entry.action),
          h("td", {}, `${entry.target_type}:${entry.target_id}`),
          h("td", {}, entry.ip || ""),
          h("td", { class: "detail" }, JSON.stringify(entry.detail)),
        ),
      );
      replace(
        output,
        rows.length
          ? table(
              [
                t("common.at"),
                t("audit.service"),
                t("audit.actor"),
                t("audit.role"),
                t("audit.action"),
                t("audit.target"),
                t("col.ip"),
                t("audit.detail"),
              ],
              rows,
            )
          : message(t("common.empty"), "info"),
      );
    });
  const form = h(
    "form",
    { class: "filters" },
    field(t("audit.actor"), actor),
    field(t("audit.action"), action),
    field(t("audit.target"), target),
    field(t("audit.since"), since),
    h("button", { type: "submit" }, t("audit.search")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  replace(container, h("h2", {}, t("audit.heading")), form, output);
  await search();
}
