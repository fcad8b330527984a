using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Silo.Training;

/// <summary>How a silo that joins or leaves asks every active run of the cluster for the same thing at once.</summary>
internal static class ActiveRuns
{
    /// <summary>
    /// Lists the active runs (the registry grain) and calls <paramref name="ask"/> on each at once; each run's answer, or
    /// why it gave none, goes to <paramref name="answered"/> or <paramref name="failed"/>, and a registry that does not
    /// answer (or the wait is cancelled) to <paramref name="unlisted"/>. Nothing else is thrown.
    /// </summary>
    public static Task AskEachAsync(
        IGrainFactory grains,
        Func<ITrainingRunGrain, Task<long>> ask,
        CancellationToken cancellationToken,
        Action<IReadOnlyList<string>> listed,
        Action<string, long> answered,
        Action<string, string> failed,
        Action<string> unlisted) =>
        AskEachAsync(grains, TrainingStorage.RegistryKey, run => ask(grains.GetGrain<ITrainingRunGrain>(run)), cancellationToken, listed, answered, failed, unlisted);

    /// <summary>The same for the runs of registry <paramref name="registry"/> (training runs, or PPO runs), named by id.</summary>
    public static async Task AskEachAsync(
        IGrainFactory grains,
        string registry,
        Func<string, Task<long>> ask,
        CancellationToken cancellationToken,
        Action<IReadOnlyList<string>> listed,
        Action<string, long> answered,
        Action<string, string> failed,
        Action<string> unlisted)
    {
        IReadOnlyList<string> runs;
        try
        {
            runs = await grains.GetGrain<ITrainingRegistryGrain>(registry).GetActiveRunsAsync().WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            unlisted(e.Message);
            return;
        }

        listed(runs);
        await Task.WhenAll(runs.Select(async run =>
        {
            try
            {
                answered(run, await ask(run).WaitAsync(cancellationToken));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failed(run, e.Message);
            }
        }));
    }
}
