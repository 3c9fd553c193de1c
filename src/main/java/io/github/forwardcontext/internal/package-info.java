/**
 * Helpers shared by the library's packages. <strong>Not a supported API:</strong> the module does
 * not export this package, and its classes may change or disappear in any release.
 */
package io.github.forwardcontext.internal;
