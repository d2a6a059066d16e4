-- GET of the URL given to wrk (the filtered, sorted page), authenticated.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
