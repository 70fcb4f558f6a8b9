/* SPDX-License-Identifier: MIT */
/*
 * main.c -- command line, configuration, the loop, teardown. Nothing here
 * is worth a unit test; everything else is in libmuxcore.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cfg.h"
#include "log.h"
#include "server.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: modbus-mux -c FILE | --config FILE     run\n"
            "       modbus-mux --check-config -c FILE      validate and exit\n"
            "       modbus-mux --version | --help\n"
            "\n"
            "A Modbus TCP aggregation proxy: many clients, one paced and\n"
            "serialized link per device. Logs go to stderr; SIGTERM/SIGINT\n"
            "stop it cleanly, SIGUSR1 logs the counters.\n");
}

/* 10,000 clients need 10,000 descriptors: take what the hard limit allows. */
static void
raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            log_warn("cannot raise the open file limit");
        }
    }
}

static int
run(struct cfg *cfg)
{
    static struct server srv;    /* 64 KiB read buffer: not on the stack */
    uv_loop_t *loop = uv_default_loop();
    int rc;

    log_level = (int)cfg->server.log_level;
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    if (server_init(&srv, loop, cfg) != 0 || server_start(&srv) != 0) {
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    server_free(&srv);
    rc = uv_loop_close(loop);
    if (rc != 0) {
        log_error("handles left open at exit: %s", uv_strerror(rc));
        return 1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool check = false;
    struct cfg_errors errs;
    struct cfg *cfg;
    int c;

    while ((c = getopt_long(argc, argv, "c:thV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 't':
            check = true;
            break;
        case 'V':
            printf("modbus-mux %s\n", MUX_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    cfg = cfg_load_file(path, &errs);
    if (cfg == NULL) {
        for (unsigned i = 0; i < errs.n; i++) {
            fprintf(stderr, "%s\n", errs.msg[i]);
        }
        if (errs.dropped > 0) {
            fprintf(stderr, "%s: %u more errors not shown\n", path,
                    errs.dropped);
        }
        return 1;
    }
    if (check) {
        printf("%s: ok (%u backends, %u routes)\n", path, cfg->n_backends,
               cfg->n_routes);
        cfg_free(cfg);
        return 0;
    }
    return run(cfg);
}
