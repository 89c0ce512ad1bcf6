/* holders_tls_lib -- a library holders_target dlopen()s: its thread-local
 * variable lives in a dynamic TLS block (reached through the thread's DTV),
 * not in the static TLS area. */
__thread void *t_dyn;

void holders_tls_set(void *p) { t_dyn = p; }
