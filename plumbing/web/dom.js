// Building the DOM from data: a module both the miners' page (pool/web) and the
// operator's console (coordinator/web) import, served to both as /static/dom.js
// (plumbing.webstatic).
// Every string, whoever wrote it, reaches the page as a text node or an attribute
// value: nodes are made with createElement and textContent, never from HTML text.

const SVG = 'http://www.w3.org/2000/svg';

// An HTML element: attributes (null and undefined ones left out; `class` sets the
// class name), then children (nodes as they are, anything else as text).
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === 'class') node.className = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// An SVG element: attributes, and optionally its text.
export function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}
