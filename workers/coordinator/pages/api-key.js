// The API key both pages (/dashboard, /upload) ask for: entered once, kept in this tab's
// sessionStorage only (never localStorage, a cookie or a URL), forgotten on sign-out.
const KEY = "jettyApiKey";
// What an Authorization header can carry; anything else was pasted by mistake.
const KEY_SHAPE = /^[\x21-\x7e]+$/;

export const storedKey = () => sessionStorage.getItem(KEY);
export const forgetKey = () => sessionStorage.removeItem(KEY);

/** Keeps the key typed into #api-key when #sign-in is submitted, then calls `signedIn`; a key
 * of the wrong shape is refused through `showSignIn(message)`. */
export function bindSignIn(showSignIn, signedIn) {
  const input = document.querySelector("#api-key");
  document.querySelector("#sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    if (!KEY_SHAPE.test(key)) {
      showSignIn("An API key has only printable ASCII characters and no spaces; check what was pasted.");
      return;
    }
    sessionStorage.setItem(KEY, key);
    input.value = "";
    signedIn();
  });
}
