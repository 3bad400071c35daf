/*
 * In-process mode: the provider's Python runs inside the openssl process,
 * in an interpreter started here (cffi embedding). build.py inserts this
 * file at provider.c's @BRIDGE_MODE@ marker; client.c is the other mode.
 *
 * Provides bridge_ready() (may Python be called now?) and bridge_start()
 * (once per provider instance, before py_provider_init).
 */

static int bridge_ready(void) { return Py_IsInitialized(); }

/* ------------------------------------------------------------------ */
/* Interpreter start-up (once per process).                            */

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static PyGILState_STATE fork_gil;

static void fork_prepare(void)
{
    if (!Py_IsInitialized())
        return;
    fork_gil = PyGILState_Ensure();
    PyOS_BeforeFork();
}

static void fork_parent(void)
{
    if (!Py_IsInitialized())
        return;
    PyOS_AfterFork_Parent();
    PyGILState_Release(fork_gil);
}

static void fork_child(void)
{
    if (!Py_IsInitialized())
        return;
    PyOS_AfterFork_Child();
    PyGILState_Release(fork_gil);
}

static int append_path(PyConfig *config, const char *path)
{
    wchar_t *wide = Py_DecodeLocale(path, NULL);
    PyStatus status;

    if (wide == NULL)
        return 0;
    status = PyWideStringList_Append(&config->module_search_paths, wide);
    PyMem_RawFree(wide);
    return !PyStatus_Exception(status);
}

/* Paths are separated by newlines (BRIDGE_PYTHON_PATHS) or colons (override). */
static int append_paths(PyConfig *config, const char *list, char sep)
{
    char *copy = strdup(list), *item, *next;
    int ok = 1;

    if (copy == NULL)
        return 0;
    for (item = copy; ok && item != NULL && *item != '\0'; item = next) {
        next = strchr(item, sep);
        if (next != NULL)
            *next++ = '\0';
        if (*item != '\0')
            ok = append_path(config, item);
    }
    free(copy);
    return ok;
}

static int bridge_start(bridge_prov *p)
{
    PyConfig config;
    PyStatus status;
    const char *extra = getenv("AZIHSM_BRIDGE_PYTHONPATH");

    if (Py_IsInitialized())
        return 1; /* a Python host, or an earlier provider instance */

    /* OpenSSL dlopens providers RTLD_LOCAL; extension modules (_cffi_backend,
     * pyca's _rust) need libpython's symbols in the global scope. */
    if (dlopen(BRIDGE_LIBPYTHON, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL) == NULL) {
        raise_error(p,
                    BRIDGE_R_PYTHON_START,
                    "OSSL_provider_init",
                    "cannot re-open %s globally: %s",
                    BRIDGE_LIBPYTHON,
                    dlerror());
        return 0;
    }

    /* Isolated: ignore the host's PYTHON* variables and user site, install no
     * signal handlers, skip `site` (its .pth scan costs tens of ms). The
     * search path is the one baked in at build time. */
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.site_import = 0;
    config.module_search_paths_set = 1;
    status = PyConfig_SetBytesString(&config, &config.home, BRIDGE_PYTHON_HOME);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.program_name, BRIDGE_PYTHON_EXE);
    if (PyStatus_Exception(status) || (extra != NULL && !append_paths(&config, extra, ':')) ||
        !append_paths(&config, BRIDGE_PYTHON_PATHS, '\n')) {
        PyConfig_Clear(&config);
        raise_error(p,
                    BRIDGE_R_PYTHON_START,
                    "OSSL_provider_init",
                    "cannot configure the embedded Python (home %s)",
                    BRIDGE_PYTHON_HOME);
        return 0;
    }
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        raise_error(p,
                    BRIDGE_R_PYTHON_START,
                    "OSSL_provider_init",
                    "cannot start the embedded Python (home %s): %s; "
                    "rebuild the module with `azihsm-conformance provider-path`",
                    BRIDGE_PYTHON_HOME,
                    status.err_msg != NULL ? status.err_msg : "unknown error");
        return 0;
    }
    /* Release the GIL: cffi takes it per call from whichever thread calls. */
    PyEval_SaveThread();
    /* Forking while another thread runs Python deadlocks children unless the GIL is
     * taken around fork(). Only when we own the interpreter: a Python host's os.fork()
     * already does this. */
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    return 1;
}
