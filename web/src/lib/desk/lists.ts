// The desk's left-pane lists (SPEC §5). Counts arrive later over the team socket.
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

export const emptyCounts = (): DeskCounts =>
  Object.fromEntries(DESK_LISTS.map((l) => [l.id, 0])) as DeskCounts;
