/**
 * Paging through a list method's `page_token` / `next_page_token`: the tokens of the pages seen
 * are kept, so "Previous" goes back as "Next" went forward; a change of filters starts again.
 */
import { useState } from "react";

/** The page token to ask for, and moves between pages. */
export function usePager(filters: unknown) {
  const [pages, setPages] = useState<{ key: string; tokens: string[] }>({ key: "", tokens: [""] });
  const key = JSON.stringify(filters, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  const tokens = pages.key === key ? pages.tokens : [""];
  return {
    pageToken: tokens[tokens.length - 1],
    page: tokens.length,
    next: (token: string) => setPages({ key, tokens: [...tokens, token] }),
    previous: () => setPages({ key, tokens: tokens.slice(0, -1) }),
  };
}

/** "Previous" and "Next" buttons under a list. */
export function Pager({
  pager,
  next,
  label,
}: {
  pager: ReturnType<typeof usePager>;
  /** The page's next_page_token (empty on the last page). */
  next: string | undefined;
  label: string;
}) {
  if (pager.page === 1 && !next) return null;
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" disabled={pager.page === 1} onClick={pager.previous}>
        Previous
      </button>
      <span>Page {pager.page}</span>
      <button type="button" disabled={!next} onClick={() => next && pager.next(next)}>
        Next
      </button>
    </nav>
  );
}
