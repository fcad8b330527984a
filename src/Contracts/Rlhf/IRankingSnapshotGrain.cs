namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// The stored rankings a reward run trains on (key: the run's id), taken once when the run starts and persisted, so
/// every data shard, on any silo and after any recovery, reads the same rankings in the same order; rankings stored
/// later go to the next reward run.
/// </summary>
public interface IRankingSnapshotGrain : IGrainWithStringKey
{
    /// <summary>
    /// Reads every stored ranking of a task of <paramref name="completions"/> completions from the board's tasks, in
    /// task and then receipt order, and keeps them as this run's; returns how many.
    /// </summary>
    /// <exception cref="ArgumentException">No stored ranking has that many completions; nothing is written.</exception>
    Task<int> TakeAsync(int completions);

    /// <summary>The rankings taken.</summary>
    /// <exception cref="InvalidOperationException">None were taken for this run.</exception>
    Task<IReadOnlyList<RankingExample>> GetAsync();
}
