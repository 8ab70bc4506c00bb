// The desk's left-pane lists (SPEC §5). Which live list a conversation is on
// comes from the protocol's listsFor(); this file adds labels and ordering.
import { type ConversationSummary, type DeskList, listsFor } from "../protocol";

export const DESK_LISTS = [
  { id: "live", label: "Live / Waiting" },
  { id: "mine", label: "Mine" },
  { id: "joined", label: "Joined" },
  { id: "all", label: "All" },
  { id: "pending", label: "Pending" },
  { id: "flagged", label: "Flagged" },
  { id: "tagged", label: "Tagged" },
  { id: "closed", label: "Closed" },
  { id: "tickets", label: "Tickets" },
] as const;

export type DeskListId = (typeof DESK_LISTS)[number]["id"];
export type DeskCounts = Record<DeskListId, number>;
/** The lists the team sockets keep live. */
export const isLiveList = (id: DeskListId): id is DeskList => id !== "closed" && id !== "tickets";

/** SPEC §5: "new customer activity" (the customer wrote most recently first) or "new chat" (newest conversation first). */
export type SortOrder = "activity" | "newest";

export const emptyCounts = (): DeskCounts => Object.fromEntries(DESK_LISTS.map((l) => [l.id, 0])) as DeskCounts;

export function countLists(conversations: Iterable<ConversationSummary>, me: string): DeskCounts {
  const counts = emptyCounts();
  for (const c of conversations) for (const list of listsFor(c, me)) counts[list]++;
  return counts;
}

/**
 * The rows of one live list. Critical first everywhere; the queue (Live) is
 * served oldest first, customers who asked for a person before those still
 * with the bot; the other lists follow the chosen sort.
 */
export function rowsOf<T extends ConversationSummary>(conversations: Iterable<T>, list: DeskList, me: string, sort: SortOrder): T[] {
  const rows = [...conversations].filter((c) => listsFor(c, me).includes(list));
  const key =
    list === "live"
      ? (c: T) => c.waitingSince ?? c.startedAt
      : sort === "newest"
        ? (c: T) => -c.startedAt
        : // "New customer activity": an agent's reply does not move a conversation up. (Summaries
          // indexed before lastCustomerAt existed lack it: their start stands in.)
          (c: T) => -(c.lastCustomerAt ?? c.startedAt);
  const withBot = (c: T) => (list === "live" && c.status === "bot" ? 1 : 0);
  return rows.sort((a, b) => Number(b.critical) - Number(a.critical) || withBot(a) - withBot(b) || key(a) - key(b) || a.id.localeCompare(b.id));
}

/** "Visitor 4f2a" when the contact left no name: the short key tells visitors apart. */
export function contactLabel(name: string | null | undefined, roomOrKey: string): string {
  if (name) return name;
  const key = roomOrKey.includes(":") ? roomOrKey.slice(roomOrKey.indexOf(":") + 1) : roomOrKey;
  return `Visitor ${key.replace(/^v_/, "").slice(0, 6)}`;
}
