/* A C host that forks while another thread keeps calling into the provider (as a
 * pre-forking server does after loading keys). Every child must be able to use the
 * provider; a child that deadlocks is killed by alarm() and counted as a failure.
 * Usage: fork_probe PROVIDER_DIR FORKS   (prints "forks ok: N/FORKS") */
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int digest_once(void)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA2-256", "provider=azihsm");
    int ok = md != NULL && EVP_Digest("abc", 3, out, &len, md, NULL) && len == 32 &&
             out[0] == 0xba && out[31] == 0xad;

    EVP_MD_free(md);
    return ok;
}

static void *keep_busy(void *arg)
{
    for (;;)
        digest_once();
    return arg;
}

int main(int argc, char **argv)
{
    int forks = argc > 2 ? atoi(argv[2]) : 10, good = 0, i, status;
    pthread_t thread;

    OSSL_PROVIDER_set_default_search_path(NULL, argv[1]);
    if (OSSL_PROVIDER_load(NULL, "azihsm_provider") == NULL || !digest_once()) {
        fprintf(stderr, "cannot load azihsm_provider\n");
        return 2;
    }
    pthread_create(&thread, NULL, keep_busy, NULL);
    for (i = 0; i < forks; i++) {
        pid_t pid = fork();

        if (pid == 0) {
            alarm(20);
            _exit(digest_once() ? 0 : 1);
        }
        if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
            WEXITSTATUS(status) == 0)
            good++;
    }
    printf("forks ok: %d/%d\n", good, forks);
    fflush(stdout);
    _exit(good == forks ? 0 : 1);
}
