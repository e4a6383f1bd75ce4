/**
 * The namespace of user-named identifiers in generated text: a slot a user calls `end`, `i`,
 * `main` or `function` reaches WAT, JavaScript, GLSL and WGSL as `s_end_1`, `s_i_1`, `s_main_1`,
 * `s_function_1`, a form no generated local, keyword or reserved word takes in any of them.
 *
 * `s_` + the name with every `_` written `_0` + `_1`: injective; never `__` (GLSL reserves it
 * anywhere, WGSL as a prefix) nor `gl_` at the start; and, since `_1` ends the name and the name
 * holds no other `_1`, no name is another's prefix followed by a suffix a generator appends
 * (`_old` in WGSL, tfjs's `get<Name>AtOutCoords` in GLSL).
 */

/** The names a user may give (slots): a letter, then letters, digits or _. */
export const USER_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** The generated-text identifier of a user name (a slot). */
export function userIdentifier(name: string): string {
  if (!USER_NAME.test(name)) throw new TypeError(`adopt-optim codegen: ${JSON.stringify(name)} is not a user name`);
  return `s_${name.replace(/_/g, '_0')}_1`;
}

/** Whether an identifier of generated text is in the user namespace (see userIdentifier). */
export const NAMESPACED = /^s_[A-Za-z](?:[A-Za-z0-9]|_0)*_1$/;
