// Building the page from data without markup: every value becomes a text node or an attribute set by the DOM, so
// customer data (a name, a note) is shown as the characters it is and can never become an element or a script.

import { t } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "events") {
      for (const [type, listener] of Object.entries(value)) element.addEventListener(type, listener);
    } else if (name.startsWith("on") || name === "style") {
      throw new Error(`refused attribute ${name}`); // handlers are listeners; styles live in console.css
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function replace(parent, ...children) {
  parent.replaceChildren();
  fill(parent, {}, children);
}

export function table(headings, rows) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headings.map((heading) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, rows),
  );
}

export function field(label, control) {
  return h("label", { class: "field" }, h("span", {}, label), control);
}

export function formatTime(iso) {
  if (!iso) return "";
  return iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z");
}

export function message(text, kind = "error") {
  return h("p", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// Runs a view's loader, shows "loading" meanwhile and the problem's detail when it fails.
export async function loading(container, load) {
  replace(container, message(t("common.loading"), "info"));
  try {
    await load();
  } catch (error) {
    if (!error.sessionEnded) replace(container, message(error.message));
  }
}

// What every form does when submitted: stays on the page, runs `work`, and shows on `status` what went wrong (the
// problem's detail from the API, or the error's own text), unless the session ended (the sign-in page shows then).
export function onSubmit(form, status, work) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await work();
    } catch (error) {
      if (!error.sessionEnded) replace(status, message(error.message || String(error)));
    }
  });
  return form;
}
