// Human words for the settings' enum values.
import type { AssignmentMode } from "../api";

export const ASSIGNMENT_MODES: { value: AssignmentMode; label: string; hint: string }[] = [
  { value: "auto", label: "Automatic", hint: "The oldest waiting chat goes to the available agent with the fewest open chats." },
  { value: "grab", label: "First to accept", hint: "Every available agent is notified; the first to accept gets the chat." },
  { value: "manual", label: "Manual", hint: "Managers assign chats; agents may take them from the queue." },
];

export const assignmentLabel = (mode: string) => ASSIGNMENT_MODES.find((m) => m.value === mode)?.label ?? mode;
