/**
 * The code that the README and the javadoc show, as compiling classes: javadoc takes its {@code
 * {@snippet class=.. region=..}} regions from here, and {@code DocSnippetsTest} checks that every
 * {@code java} block of the README is one of these regions, word for word. The types that stand for
 * a model (a transformer, its metadata) are small stand-ins declared beside the snippets.
 */
package io.github.forwardcontext.snippets;
