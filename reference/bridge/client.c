/*
 * Server mode: no interpreter in the openssl process. Every externs.h call
 * is a request to the device server (server.py) over a Unix socket; build.py
 * generates one stub per call from externs.h (protocol.py names the argument
 * kinds) and inserts this file at provider.c's @BRIDGE_MODE@ marker.
 *
 * Answered here without the server: the provider's identity, digest and AES
 * algorithm parameters, reason strings (all known when the module is built).
 * Listing the provider therefore starts no Python at all.
 *
 * The connection: one per process, made on the first call that needs the
 * device. Its lock is process-shared and robust, in shared memory, so a
 * process that forks after using keys shares its session with the child,
 * one request at a time, as it would share an in-process session.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define BRIDGE_R_DEVICE_UNAVAILABLE 207
#define NULL_LENGTH                 0xFFFFFFFFu
#define SERVER_START_SECONDS        20
#define REPLY_TIMEOUT_SECONDS       900 /* never hang forever on a wedged server */

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

static int bridge_ready(void) { return 1; }

/* ------------------------------------------------------------------ */
/* Answers known at build time.                                        */

typedef struct {
    const char *key;
    int is_text;
    long long number;
    const char *text;
} baked_param;

typedef struct {
    const char *name;
    const baked_param *params;
} baked_answers;

typedef struct {
    int code;
    const char *slug;
} baked_reason;

/* build.py: identity_answers, digest_answers, aes_answers, baked_reasons,
 * config_keys, provisioned_keys. */
/* @BRIDGE_TABLES@ */

static int answer_number(OSSL_PARAM *p, long long value)
{
    if (p->data_type != OSSL_PARAM_INTEGER && p->data_type != OSSL_PARAM_UNSIGNED_INTEGER)
        return 0;
    if (p->data == NULL) {
        p->return_size = sizeof(value);
        return 1;
    }
    if (p->data_size == sizeof(int32_t)) {
        int32_t v = (int32_t)value;
        memcpy(p->data, &v, sizeof(v));
    } else if (p->data_size == sizeof(int64_t)) {
        int64_t v = (int64_t)value;
        memcpy(p->data, &v, sizeof(v));
    } else {
        return 0;
    }
    p->return_size = p->data_size;
    return 1;
}

static int answer_text(OSSL_PARAM *p, const char *text)
{
    size_t len = strlen(text);

    p->return_size = len;
    if (p->data_type == OSSL_PARAM_UTF8_PTR) {
        if (p->data != NULL)
            *(const char **)p->data = text;
        return 1;
    }
    if (p->data_type != OSSL_PARAM_UTF8_STRING)
        return 0;
    if (p->data == NULL)
        return 1;
    if (p->data_size < len + 1)
        return 0;
    memcpy(p->data, text, len + 1);
    return 1;
}

static int answer(const baked_param *table, OSSL_PARAM params[])
{
    OSSL_PARAM *p;
    const baked_param *b;

    for (p = params; p != NULL && p->key != NULL; p++)
        for (b = table; b->key != NULL; b++)
            if (strcmp(p->key, b->key) == 0 &&
                !(b->is_text ? answer_text(p, b->text) : answer_number(p, b->number)))
                return 0;
    return 1;
}

static const baked_param *answers_for(const baked_answers *tables, const char *name)
{
    for (; tables->name != NULL; tables++)
        if (strcmp(tables->name, name) == 0)
            return tables->params;
    return NULL;
}

static int py_digest_get_params(const char *name, OSSL_PARAM params[])
{
    const baked_param *table = answers_for(digest_answers, name);

    return table != NULL && answer(table, params);
}

static int py_aes_get_params(const char *name, OSSL_PARAM params[])
{
    const baked_param *table = answers_for(aes_answers, name);

    return table != NULL && answer(table, params);
}

/* ------------------------------------------------------------------ */
/* Strings the core keeps pointers to (UTF8_PTR answers, key ids).     */

typedef struct interned {
    struct interned *next;
    size_t len;
    char text[];
} interned;

static interned *interned_strings;
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *intern(const unsigned char *data, size_t len)
{
    interned *s;
    const char *found = NULL;

    pthread_mutex_lock(&intern_lock);
    for (s = interned_strings; s != NULL && found == NULL; s = s->next)
        if (s->len == len && memcmp(s->text, data, len) == 0)
            found = s->text;
    if (found == NULL && (s = malloc(sizeof(*s) + len + 1)) != NULL) {
        s->len = len;
        memcpy(s->text, data, len);
        s->text[len] = '\0';
        s->next = interned_strings;
        interned_strings = s;
        found = s->text;
    }
    pthread_mutex_unlock(&intern_lock);
    return found;
}

/* ------------------------------------------------------------------ */
/* Provider instances: ours, and the server's instance behind each.    */

#define MAX_INSTANCES 64
static struct {
    bridge_prov *prov;
    int server_id; /* 0: not created on the server yet */
} instances[MAX_INSTANCES];

static bridge_prov *instance_prov(int client_id)
{
    if (client_id < 1 || client_id > MAX_INSTANCES)
        return NULL;
    return instances[client_id - 1].prov;
}

static bridge_prov *prov_of_server_instance(int server_id)
{
    int i;

    for (i = 0; server_id > 0 && i < MAX_INSTANCES; i++)
        if (instances[i].prov != NULL && instances[i].server_id == server_id)
            return instances[i].prov;
    return NULL;
}

static bridge_prov *any_prov(void)
{
    int i;

    for (i = 0; i < MAX_INSTANCES; i++)
        if (instances[i].prov != NULL)
            return instances[i].prov;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Frames.                                                             */

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed;
} frame;

static void put_raw(frame *f, const void *data, size_t len)
{
    if (f->failed)
        return;
    if (f->len + len > f->cap) {
        size_t cap = f->cap ? f->cap : 256;
        unsigned char *grown;

        while (cap < f->len + len)
            cap *= 2;
        if ((grown = realloc(f->data, cap)) == NULL) {
            f->failed = 1;
            return;
        }
        f->data = grown;
        f->cap = cap;
    }
    memcpy(f->data + f->len, data, len);
    f->len += len;
}

/* The wire is little-endian; so is every machine this is built for. */
static void put_u8(frame *f, uint8_t v) { put_raw(f, &v, 1); }
static void put_u32(frame *f, uint32_t v) { put_raw(f, &v, 4); }
static void put_u64(frame *f, uint64_t v) { put_raw(f, &v, 8); }
static void put_i64(frame *f, int64_t v) { put_raw(f, &v, 8); }
static void put_blob(frame *f, const void *data, size_t len)
{
    if (data == NULL) {
        put_u32(f, NULL_LENGTH);
        return;
    }
    if (len >= NULL_LENGTH) {
        f->failed = 1;
        return;
    }
    put_u32(f, (uint32_t)len);
    put_raw(f, data, len);
}
static void put_str(frame *f, const char *s) { put_blob(f, s, s != NULL ? strlen(s) : 0); }

typedef struct {
    const unsigned char *at;
    size_t left;
    int bad;
} reader;

static const unsigned char *take(reader *r, size_t n)
{
    const unsigned char *p = r->at;

    if (r->bad || n > r->left) {
        r->bad = 1;
        return NULL;
    }
    r->at += n;
    r->left -= n;
    return p;
}
/* An unsigned little-endian integer of SIZE (4 or 8) bytes; 0 from a bad frame. */
static uint64_t get_uint(reader *r, size_t size)
{
    uint64_t v = 0;
    const unsigned char *p = take(r, size);

    if (p != NULL)
        memcpy(&v, p, size);
    return v;
}
static uint32_t get_u32(reader *r) { return (uint32_t)get_uint(r, 4); }
static uint64_t get_u64(reader *r) { return get_uint(r, 8); }
static int64_t get_i64(reader *r) { return (int64_t)get_u64(r); }
/* A blob: its bytes (NULL for a null blob or a bad frame) and length. */
static const unsigned char *get_blob(reader *r, size_t *len)
{
    uint32_t n = get_u32(r);

    *len = 0;
    if (r->bad || n == NULL_LENGTH)
        return NULL;
    *len = n;
    return take(r, n);
}

/* ------------------------------------------------------------------ */
/* The connection.                                                     */

typedef struct {
    pthread_mutex_t lock; /* process-shared and robust */
    int broken;           /* the server went away: its session (our keys) is gone */
} shared_state;

static shared_state *shared;    /* MAP_SHARED: a forked child shares it */
static int conn_fd = -1;        /* inherited by a forked child with the same number */
static char device_label[1024]; /* for messages: where the server is */

static void conn_error(bridge_prov *p, const char *fn, const char *fmt, ...)
{
    char message[1400];
    va_list ap;

    if (p == NULL && (p = any_prov()) == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    raise_error(p, BRIDGE_R_DEVICE_UNAVAILABLE, fn, "%s", message);
}

static int send_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

static int recv_all(int fd, void *data, size_t len)
{
    unsigned char *p = data;

    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/* A reply frame's body (malloc'ed), or NULL if the connection failed. */
static unsigned char *recv_frame(int fd, size_t *len)
{
    uint32_t n;
    unsigned char *body;

    if (!recv_all(fd, &n, 4) || n > (64u << 20))
        return NULL;
    if ((body = malloc(n ? n : 1)) == NULL)
        return NULL;
    if (!recv_all(fd, body, n)) {
        free(body);
        return NULL;
    }
    *len = n;
    return body;
}

static int send_frame(int fd, const frame *body, int pass_fd)
{
    uint32_t n = (uint32_t)body->len;
    struct iovec iov[2] = { { &n, 4 }, { body->data, body->len } };
    struct msghdr msg = { 0 };
    char control[CMSG_SPACE(sizeof(int))];
    ssize_t sent;

    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    if (pass_fd >= 0) {
        struct cmsghdr *cmsg;

        memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
    }
    do {
        sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return 0;
    /* whatever sendmsg left unsent goes the plain way (the fd went with byte one) */
    if ((size_t)sent < 4) {
        if (!send_all(fd, (unsigned char *)&n + sent, 4 - (size_t)sent))
            return 0;
        sent = 4;
    }
    return send_all(fd, body->data + (sent - 4), body->len - (size_t)(sent - 4));
}

/* The server, as a grandchild in a session of its own (never a zombie of
 * ours), with CHANNEL as its fd 3 and a status pipe as its fd 4: it writes
 * "ready", "busy" (another server won the start race) or why it cannot
 * start, and the pipe closes if it dies. Only async-signal-safe calls after
 * fork. Returns the status pipe's read end, or -1. */
static int spawn_server(const char *mode, int channel)
{
    char *argv[] = {
        BRIDGE_PYTHON_EXE, "-I", "-S", "-c", BRIDGE_SERVER_BOOT, (char *)mode, BRIDGE_SERVER_NAME,
        BRIDGE_BUILD_KEY,  NULL
    };
    sigset_t all;
    int status = 0, pipe_fds[2];
    pid_t pid;

    if (pipe2(pipe_fds, O_CLOEXEC) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return -1;
    }
    if (pid == 0) {
        int null_fd, fd;

        setsid();
        pid = fork();
        if (pid != 0)
            _exit(pid < 0);
        /* fds 3 and 4 must not be clobbered while moving: go through high numbers */
        channel = fcntl(channel, F_DUPFD, 10);
        fd = fcntl(pipe_fds[1], F_DUPFD, 10);
        if (channel < 0 || fd < 0 || dup2(channel, 3) < 0 || dup2(fd, 4) < 0)
            _exit(127);
        null_fd = open("/dev/null", O_RDWR);
        if (null_fd < 0)
            _exit(127);
        dup2(null_fd, 0);
        dup2(null_fd, 1);
        dup2(null_fd, 2);
        for (fd = 5; fd < 4096; fd++)
            close(fd);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        execve(argv[0], argv, environ);
        _exit(127);
    }
    close(pipe_fds[1]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        close(pipe_fds[0]);
        return -1;
    }
    return pipe_fds[0];
}

/* The started server's first words (see spawn_server); closes STATUS_FD. */
static void server_status(int status_fd, char *out, size_t size)
{
    size_t len = 0;
    time_t deadline = time(NULL) + SERVER_START_SECONDS;

    out[0] = '\0';
    while (len + 1 < size && time(NULL) < deadline) {
        struct pollfd pfd = { status_fd, POLLIN, 0 };
        ssize_t n;

        if (poll(&pfd, 1, 1000) <= 0)
            continue;
        n = read(status_fd, out + len, size - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        out[len] = '\0';
        if (memchr(out, '\n', len) != NULL)
            break;
    }
    close(status_fd);
    out[strcspn(out, "\n")] = '\0';
    if (len == 0 && time(NULL) >= deadline)
        snprintf(out, size, "no word from it within %d s", SERVER_START_SECONDS);
    else if (len == 0)
        snprintf(out, size, "it ended before it could serve (is %s intact?)", BRIDGE_PYTHON_EXE);
}

/* Where the device lives: the provider section's directory, the directory
 * of the 2026-08 files, $AZIHSM_DEVICE_DIR, or /var/lib/azihsm. 0: too long
 * for OUT (the caller then uses a private server, which reads the whole path). */
static int device_directory(bridge_prov *p, char *out, size_t size)
{
    const char *dir = bridge_core_param(p, "azihsm-device-dir");
    const char *bmk = NULL;
    const char *const *key;
    int provisioned = 0;

    for (key = provisioned_keys; *key != NULL; key++)
        if (bridge_core_param(p, *key) != NULL)
            provisioned = 1;
    if (dir == NULL && provisioned) {
        const char *slash;

        bmk = bridge_core_param(p, "azihsm-bmk-path");
        if (bmk == NULL)
            bmk = "./bmk.bin";
        slash = strrchr(bmk, '/');
        if (slash == NULL)
            return snprintf(out, size, ".") < (int)size;
        if (slash == bmk)
            return snprintf(out, size, "/") < (int)size;
        return snprintf(out, size, "%.*s", (int)(slash - bmk), bmk) < (int)size;
    }
    if (dir == NULL) {
        dir = getenv("AZIHSM_DEVICE_DIR");
        if (dir == NULL || *dir == '\0')
            dir = "/var/lib/azihsm";
    }
    return snprintf(out, size, "%s", *dir != '\0' ? dir : ".") < (int)size;
}

/* A directory that can hold the server's socket: ours, a directory, writable
 * by us and nobody else. Anything else gets a private server, whose device
 * code then names the problem exactly as the in-process provider does. */
static int usable_for_socket(int dirfd, const char *path)
{
    struct stat st;

    return fstat(dirfd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
           (st.st_mode & 022) == 0 && access(path, W_OK | X_OK) == 0;
}

static int connect_socket(int dirfd)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    /* through the directory's fd: any path length fits sun_path */
    snprintf(addr.sun_path,
             sizeof(addr.sun_path),
             "/proc/self/fd/%d/%s.sock",
             dirfd,
             BRIDGE_SERVER_NAME);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        return fd;
    close(fd);
    return -1;
}

static int connect_device_server(int dirfd, char *why, size_t why_size)
{
    struct timespec pause = { 0, 2 * 1000 * 1000 };
    time_t deadline;
    char status[1024];
    int fd = connect_socket(dirfd), status_fd;

    if (fd >= 0)
        return fd;
    if (errno != ECONNREFUSED && errno != ENOENT) {
        snprintf(why, why_size, "cannot connect to it: %s", strerror(errno));
        return -1;
    }
    if ((status_fd = spawn_server("device", dirfd)) < 0) {
        snprintf(why, why_size, "cannot start it: %s", strerror(errno));
        return -1;
    }
    server_status(status_fd, status, sizeof(status));
    if (strcmp(status, "ready") != 0 && strcmp(status, "busy") != 0) {
        snprintf(why, why_size, "it could not start: %s", status);
        return -1;
    }
    /* ready: it listens; busy: the server that won the race is starting */
    deadline = time(NULL) + SERVER_START_SECONDS;
    while ((fd = connect_socket(dirfd)) < 0 && time(NULL) < deadline) {
        nanosleep(&pause, NULL);
        if (pause.tv_nsec < 20 * 1000 * 1000)
            pause.tv_nsec += 2 * 1000 * 1000;
    }
    if (fd < 0)
        snprintf(why, why_size, "it did not answer within %d s", SERVER_START_SECONDS);
    return fd;
}

static int connect_private_server(char *why, size_t why_size)
{
    char status[1024];
    int pair[2], status_fd;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        snprintf(why, why_size, "cannot start it: %s", strerror(errno));
        return -1;
    }
    status_fd = spawn_server("private", pair[1]);
    close(pair[1]);
    if (status_fd < 0) {
        close(pair[0]);
        snprintf(why, why_size, "cannot start it: %s", strerror(errno));
        return -1;
    }
    server_status(status_fd, status, sizeof(status));
    if (strcmp(status, "ready") != 0) {
        close(pair[0]);
        snprintf(why, why_size, "it could not start: %s", status);
        return -1;
    }
    return pair[0];
}

/* Hello: protocol, build, our environment and (as an fd) our working directory. */
static int hello(int fd, char *why, size_t why_size)
{
    frame f = { 0 };
    char **env;
    char cwd[4096];
    int cwd_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    unsigned char *reply;
    size_t len = 0, text_len = 0;
    reader r;
    const unsigned char *text;
    int ok = 0;

    put_raw(&f, "AZHSM/1", 8);
    put_str(&f, BRIDGE_BUILD_KEY);
    put_u32(&f, 0);
    for (env = environ; env != NULL && *env != NULL; env++)
        put_raw(&f, *env, strlen(*env) + 1);
    /* the environment block's length goes before it: patch it in */
    if (!f.failed) {
        size_t at = 8 + 4 + strlen(BRIDGE_BUILD_KEY);
        uint32_t n = (uint32_t)(f.len - at - 4);

        memcpy(f.data + at, &n, 4);
    }
    if (getcwd(cwd, sizeof(cwd)) != NULL)
        put_str(&f, cwd);
    else
        put_blob(&f, NULL, 0);
    if (!f.failed && send_frame(fd, &f, cwd_fd) && (reply = recv_frame(fd, &len)) != NULL) {
        r = (reader){ reply, len, 0 };
        ok = take(&r, 1) != NULL && reply[0] == 0;
        text = get_blob(&r, &text_len);
        if (!ok)
            snprintf(why,
                     why_size,
                     "the device server refused us: %.*s",
                     (int)text_len,
                     text != NULL ? (const char *)text : "no reason");
        free(reply);
    } else {
        snprintf(why, why_size, "no answer to the hello: %s", strerror(errno));
    }
    if (cwd_fd >= 0)
        close(cwd_fd);
    free(f.data);
    return ok;
}

static shared_state *new_shared_state(void)
{
    pthread_mutexattr_t attr;
    shared_state *s =
        mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (s == MAP_FAILED)
        return NULL;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    s->broken = 0;
    return s;
}

static pthread_mutex_t connect_lock = PTHREAD_MUTEX_INITIALIZER;

/* Connected (now or before), or an error raised on P. */
static int ensure_connection(bridge_prov *p, const char *fn)
{
    char dir[1024], why[1400] = "", reason[1100] = "";
    int dirfd, fd = -1, attempt, whole;
    struct timeval timeout = { REPLY_TIMEOUT_SECONDS, 0 };

    if (conn_fd >= 0)
        return 1;
    pthread_mutex_lock(&connect_lock);
    if (conn_fd >= 0) {
        pthread_mutex_unlock(&connect_lock);
        return 1;
    }
    if (shared == NULL)
        shared = new_shared_state();
    whole = device_directory(p, dir, sizeof(dir));
    /* A server that is just leaving (idle, or its code was edited) may take our
     * connection and close it before the hello: then the next attempt starts another. */
    for (attempt = 0; fd < 0 && attempt < 3; attempt++) {
        snprintf(device_label, sizeof(device_label), "%s", dir);
        dirfd = whole ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (dirfd >= 0 && usable_for_socket(dirfd, dir)) {
            fd = connect_device_server(dirfd, reason, sizeof(reason));
        } else {
            snprintf(device_label, sizeof(device_label), "%s (private server)", dir);
            fd = connect_private_server(reason, sizeof(reason));
        }
        if (dirfd >= 0)
            close(dirfd);
        if (fd < 0) {
            snprintf(why, sizeof(why), "the device server for %s: %s", device_label, reason);
            break;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        if (!hello(fd, reason, sizeof(reason))) {
            snprintf(why, sizeof(why), "the device server for %s: %s", device_label, reason);
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0 && shared != NULL)
        conn_fd = fd;
    pthread_mutex_unlock(&connect_lock);
    if (conn_fd < 0) {
        conn_error(p, fn, "%s", why);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Calls.                                                              */

typedef struct {
    frame req;
    reader rep;
    unsigned char *reply;
    const char *fn;
    bridge_prov *prov; /* errors and BIO writes go through it */
    OSSL_CALLBACK *cb;
    void *cbarg;
    void *cbio;
    int ok;
} rpc;

static int server_instance(rpc *c, int client_id);
static int create_server_instance(int client_id, const char *fn);

static void rpc_begin(rpc *c, uint32_t index, const char *fn)
{
    memset(c, 0, sizeof(*c));
    c->fn = fn;
    c->ok = 1;
    put_u32(&c->req, index);
}

static void rpc_end(rpc *c)
{
    free(c->req.data);
    free(c->reply);
}

static int lock_connection(void)
{
    int rc = pthread_mutex_lock(&shared->lock);

    if (rc == EOWNERDEAD) {
        /* a process died inside a call: the stream is mid-frame, the session unusable */
        shared->broken = 1;
        pthread_mutex_consistent(&shared->lock);
        return 1;
    }
    return rc == 0;
}

/* Send the request and (if the function answers) read the reply. */
static int rpc_call(rpc *c, int replies)
{
    size_t len = 0;
    int sent;

    if (!c->ok)
        return 0;
    if (c->prov == NULL)
        c->prov = any_prov();
    if (c->req.failed) {
        conn_error(c->prov, c->fn, "out of memory building a device server request");
        return 0;
    }
    if (!ensure_connection(c->prov, c->fn) || !lock_connection())
        return 0;
    if (shared->broken) {
        pthread_mutex_unlock(&shared->lock);
        conn_error(c->prov,
                   c->fn,
                   "the device server for %s is gone (this process's session ended with it)",
                   device_label);
        return 0;
    }
    sent = send_frame(conn_fd, &c->req, -1);
    if (sent && replies)
        c->reply = recv_frame(conn_fd, &len);
    if (!sent || (replies && c->reply == NULL))
        shared->broken = 1;
    pthread_mutex_unlock(&shared->lock);
    if (!sent || (replies && c->reply == NULL)) {
        if (replies)
            conn_error(c->prov,
                       c->fn,
                       "the device server for %s ended during %s (this process's session ended "
                       "with it; the next process starts a new server)",
                       device_label,
                       c->fn);
        return 0;
    }
    c->rep = (reader){ c->reply, len, 0 };
    return 1;
}

static void put_params(rpc *c, const OSSL_PARAM *params, int with_data)
{
    const OSSL_PARAM *p;
    uint32_t count = 0;

    for (p = params; p != NULL && p->key != NULL; p++)
        count++;
    put_u32(&c->req, count);
    for (p = params; p != NULL && p->key != NULL; p++) {
        put_str(&c->req, p->key);
        put_u32(&c->req, p->data_type);
        put_u64(&c->req, p->data_size);
        if (!with_data) {
            put_u8(&c->req, p->data == NULL);
        } else if (p->data == NULL) {
            put_blob(&c->req, NULL, 0);
        } else if (p->data_type == OSSL_PARAM_UTF8_PTR || p->data_type == OSSL_PARAM_OCTET_PTR) {
            put_blob(&c->req, *(const void *const *)p->data, p->data_size);
        } else {
            put_blob(&c->req, p->data, p->data_size);
        }
    }
}

static void put_instance(rpc *c, int client_id)
{
    put_i64(&c->req, c->ok ? server_instance(c, client_id) : 0);
}

static void get_outbuf(rpc *c, unsigned char *out, size_t *outl, size_t cap)
{
    uint64_t n = get_u64(&c->rep);
    size_t len;
    const unsigned char *data = get_blob(&c->rep, &len);

    if (outl != NULL)
        *outl = (size_t)n;
    if (out != NULL && data != NULL)
        memcpy(out, data, len < cap ? len : cap);
}

static void get_fixed(rpc *c, unsigned char *out, size_t size)
{
    size_t len;
    const unsigned char *data = get_blob(&c->rep, &len);

    if (out != NULL && data != NULL)
        memcpy(out, data, len < size ? len : size);
}

static void get_answers(rpc *c, OSSL_PARAM *params)
{
    OSSL_PARAM *p;

    for (p = params; p != NULL && p->key != NULL; p++) {
        uint64_t size = get_u64(&c->rep);
        size_t len;
        const unsigned char *data = get_blob(&c->rep, &len);

        if (c->rep.bad)
            return;
        if (data != NULL && p->data != NULL) {
            if (p->data_type == OSSL_PARAM_UTF8_PTR || p->data_type == OSSL_PARAM_OCTET_PTR)
                *(const void **)p->data = intern(data, len);
            else
                memcpy(p->data, data, len < p->data_size ? len : p->data_size);
        }
        p->return_size = (size_t)size;
    }
}

static const char *get_str(rpc *c)
{
    size_t len;
    const unsigned char *data = get_blob(&c->rep, &len);

    return data != NULL ? intern(data, len) : NULL;
}

/* One callback the server asked for: its parameters rebuilt here, then the call. */
static int make_callback(rpc *c)
{
    uint32_t count = get_u32(&c->rep), i;
    OSSL_PARAM *params;
    void **holders;
    int ok;

    if (c->rep.bad || count > 256 || (params = calloc(count + 1, sizeof(*params))) == NULL)
        return 0;
    holders = calloc(count + 1, sizeof(*holders));
    for (i = 0; holders != NULL && i < count && !c->rep.bad; i++) {
        size_t keylen, len;
        const unsigned char *key = get_blob(&c->rep, &keylen);

        params[i].key = key != NULL ? intern(key, keylen) : "";
        params[i].data_type = get_u32(&c->rep);
        params[i].data_size = (size_t)get_u64(&c->rep);
        params[i].return_size = OSSL_PARAM_UNMODIFIED;
        params[i].data = (void *)get_blob(&c->rep, &len); /* lives in the reply */
        params[i].data_size = len;
        if (params[i].data_type == OSSL_PARAM_UTF8_STRING && params[i].data != NULL)
            params[i].data = (void *)intern(params[i].data, len); /* NUL-terminated */
        if (params[i].data_type == OSSL_PARAM_UTF8_PTR ||
            params[i].data_type == OSSL_PARAM_OCTET_PTR) {
            holders[i] = params[i].data;
            params[i].data = &holders[i];
        }
    }
    ok = holders != NULL && !c->rep.bad && c->cb != NULL && c->cb(params, c->cbarg);
    free(holders);
    free(params);
    return ok;
}

/* After the result and outputs: errors, callbacks, BIO bytes. 0: the call failed. */
static int rpc_finish(rpc *c)
{
    uint32_t n, i;
    int ok = 1;
    size_t len;
    const unsigned char *bio_data;

    n = get_u32(&c->rep);
    for (i = 0; i < n && !c->rep.bad; i++) {
        uint32_t server_id = get_u32(&c->rep), reason = get_u32(&c->rep);
        size_t func_len, message_len;
        const unsigned char *func = get_blob(&c->rep, &func_len);
        const unsigned char *message = get_blob(&c->rep, &message_len);
        bridge_prov *p = prov_of_server_instance((int)server_id);
        char where[128];

        if (p == NULL)
            p = c->prov;
        if (p == NULL || c->rep.bad)
            continue;
        snprintf(
            where, sizeof(where), "%.*s", (int)func_len, func != NULL ? (const char *)func : "");
        raise_error(p,
                    (int)reason,
                    where,
                    "%.*s",
                    (int)message_len,
                    message != NULL ? (const char *)message : "");
    }
    n = get_u32(&c->rep);
    for (i = 0; i < n && !c->rep.bad; i++)
        ok = make_callback(c) && ok;
    bio_data = get_blob(&c->rep, &len);
    if (bio_data != NULL && len > 0 && !bridge_bio_write(c->prov, c->cbio, bio_data, len)) {
        conn_error(c->prov, c->fn, "cannot write the encoded key");
        ok = 0;
    }
    if (c->rep.bad || c->rep.left != 0) {
        conn_error(c->prov, c->fn, "a malformed reply from the device server for %s", device_label);
        return 0;
    }
    return ok;
}

/* ------------------------------------------------------------------ */
/* The provider instance calls (the rest are generated below).         */

static int py_provider_init(void *cprov, int *instance)
{
    bridge_prov *p = cprov;
    const char *const *key;
    int i, provisioned = 0;

    for (i = 0; i < baked_reason_count; i++)
        bridge_add_reason(baked_reasons[i].code, baked_reasons[i].slug);
    for (i = 0; i < MAX_INSTANCES && instances[i].prov != NULL; i++)
        ;
    if (i == MAX_INSTANCES) {
        raise_error(p,
                    BRIDGE_R_DEVICE_UNAVAILABLE,
                    "OSSL_provider_init",
                    "more than %d azihsm provider instances in one process",
                    MAX_INSTANCES);
        return 0;
    }
    instances[i].prov = p;
    instances[i].server_id = 0;
    *instance = i + 1;
    /* the 2026-08 settings are checked when the provider loads, as in-process */
    for (key = provisioned_keys; *key != NULL; key++)
        if (bridge_core_param(p, *key) != NULL)
            provisioned = 1;
    if (provisioned && create_server_instance(i + 1, "OSSL_provider_init") <= 0) {
        instances[i].prov = NULL;
        return 0;
    }
    return 1;
}

/* The server's instance behind ours, created on first use. */
static int server_instance(rpc *outer, int client_id)
{
    bridge_prov *p = instance_prov(client_id);
    int id;

    if (p == NULL) {
        outer->ok = 0;
        return 0;
    }
    outer->prov = p;
    id = instances[client_id - 1].server_id;
    if (id <= 0 && (id = create_server_instance(client_id, outer->fn)) <= 0)
        outer->ok = 0;
    return id > 0 ? id : 0;
}

/* py_provider_init on the server, with our provider-section settings. */
static int create_server_instance(int client_id, const char *fn)
{
    bridge_prov *p = instance_prov(client_id);
    const char *const *key;
    uint32_t count = 0;
    rpc c;
    int id = 0;

    rpc_begin(&c, BRIDGE_FN_py_provider_init, fn);
    c.prov = p;
    for (key = config_keys; *key != NULL; key++)
        count++;
    put_u32(&c.req, count);
    for (key = config_keys; *key != NULL; key++) {
        put_str(&c.req, *key);
        put_str(&c.req, bridge_core_param(p, *key));
    }
    if (rpc_call(&c, 1)) {
        int ok = (int)get_i64(&c.rep);

        id = (int)get_i64(&c.rep);
        if (!rpc_finish(&c) || !ok)
            id = 0;
    }
    rpc_end(&c);
    if (id > 0)
        instances[client_id - 1].server_id = id;
    return id;
}

static int py_provider_get_params(int instance, OSSL_PARAM params[])
{
    return answer(identity_answers, params);
}

static void py_provider_teardown(int instance)
{
    rpc c;
    int server_id;

    if (instance < 1 || instance > MAX_INSTANCES)
        return;
    server_id = instances[instance - 1].server_id;
    instances[instance - 1].prov = NULL;
    instances[instance - 1].server_id = 0;
    if (server_id <= 0 || conn_fd < 0)
        return;
    rpc_begin(&c, BRIDGE_FN_py_provider_teardown, "OSSL_provider_teardown");
    put_i64(&c.req, server_id);
    c.prov = NULL;
    if (shared != NULL && !shared->broken && lock_connection()) {
        send_frame(conn_fd, &c.req, -1); /* no reply: the process is ending */
        pthread_mutex_unlock(&shared->lock);
    }
    rpc_end(&c);
}

static int bridge_start(bridge_prov *p) { return 1; }

/* Generated from externs.h by build.py: one stub per call. */
/* @BRIDGE_STUBS@ */
