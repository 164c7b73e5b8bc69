//! Order-keeping parallel map for the bulk paths (publish's parse, validate and sign).

/// Threads a bulk path uses: one per core, at most 8.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// `f` over `items`, results in input order: one chunk per thread (scoped threads) when there
/// are at least `min_parallel` items and more than one core, else on this thread. `Err` carries
/// a panic of `f`, for the caller to resume or report.
pub fn map_chunks<I: Send, T: Send>(
    items: Vec<I>,
    min_parallel: usize,
    f: &(impl Fn(I) -> T + Sync),
) -> std::thread::Result<Vec<T>> {
    let threads = threads();
    if threads < 2 || items.len() < min_parallel.max(2) {
        return Ok(items.into_iter().map(f).collect());
    }
    let total = items.len();
    let chunk = total.div_ceil(threads);
    let mut parts: Vec<Vec<I>> = Vec::with_capacity(threads);
    let mut rest = items.into_iter();
    while rest.len() > 0 {
        parts.push(rest.by_ref().take(chunk).collect());
    }
    // Empty now, but it still holds the input's buffer (~146 MB for a publish of 100,000
    // footprints); freed before the results grow.
    drop(rest);
    let mapped: Vec<std::thread::Result<Vec<T>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect()))
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut out = Vec::with_capacity(total);
    for part in mapped {
        out.extend(part?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::map_chunks;

    #[test]
    fn keeps_order_on_and_off_threads_and_hands_back_a_panic() {
        for n in [0usize, 1, 5, 3000] {
            let items: Vec<usize> = (0..n).collect();
            let out = map_chunks(items, 100, &|i| i * 3).unwrap();
            assert_eq!(out, (0..n).map(|i| i * 3).collect::<Vec<_>>());
        }
        let panicked = map_chunks((0..3000).collect(), 100, &|i: usize| {
            assert!(i != 2999, "item {i}");
            i
        });
        assert!(panicked.is_err());
    }
}
