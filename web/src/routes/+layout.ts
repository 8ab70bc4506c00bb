// A single-page app: the Worker serves index.html for every desk path.
export const ssr = false;
export const prerender = false;
