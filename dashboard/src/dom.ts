/**
 * DOM helpers. Everything that comes from the agent (names, labels, images)
 * is untrusted and enters the page as text through these, never as markup.
 */

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: { className?: string; text?: string } = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.className !== undefined) node.className = options.className;
  if (options.text !== undefined) node.textContent = options.text;
  node.append(...children);
  return node;
}

/** The element with this id, of the expected type; throws if missing. */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`#${id} missing`);
  return node;
}

/** Replaces an element's children by term/description pairs. */
export function fillFacts(
  list: HTMLElement,
  facts: readonly (readonly [string, string | undefined])[],
): void {
  list.replaceChildren(
    ...facts.flatMap(([term, value]) =>
      value === undefined || value === ''
        ? []
        : [el('dt', { text: term }), el('dd', { text: value })],
    ),
  );
}
