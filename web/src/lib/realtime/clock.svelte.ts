// A clock that ticks once a second while something on screen reads it
// (waiting markers, relative times, the presence timer); idle otherwise.
import { createSubscriber } from "svelte/reactivity";

let current = Date.now();
const subscribe = createSubscriber((update) => {
  current = Date.now();
  const timer = setInterval(() => {
    current = Date.now();
    update();
  }, 1000);
  return () => clearInterval(timer);
});

export const clock = {
  get now(): number {
    subscribe();
    return current;
  },
};
