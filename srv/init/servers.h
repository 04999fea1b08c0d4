/*
 * The servers init starts at boot (normal mode), and the shell's access to
 * them. Today: /srv/echo, reached over a stream whose other lane init
 * keeps.
 */
#ifndef INIT_SERVERS_H
#define INIT_SERVERS_H

/* Start the boot servers; prints what it started or why not. */
void servers_start(void);
/* Send text to the echo server in a new conversation and print the reply. */
void servers_echo(const char *text);

#endif
