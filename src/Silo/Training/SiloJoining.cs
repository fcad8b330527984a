using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;

namespace InsideLLMs.Distributed.Silo.Training;

public sealed class SiloJoiningOptions
{
    public const string Section = "Training";

    /// <summary>
    /// When this silo has joined the cluster, ask every active run to re-place its stages so that this silo takes a share
    /// at the next step boundary (a checkpoint and a pause of about a second each). Off: runs keep their stages where they
    /// are until they recover from something else.
    /// </summary>
    public bool SpreadOnJoin { get; set; } = true;
}

/// <summary>
/// Scale-out: once this silo is active in the cluster, every active run is told it joined; each saves a checkpoint at
/// the end of the step in flight, releases its stages and starts them again from it where placement puts them now,
/// this silo included. It asks once the host has started (every hosted service, the silo's included), so the stages
/// are not re-placed while this silo is still starting; it does not hold up the host. It first warms libtorch up here,
/// so the stages' first step on this silo does not pay for loading it.
/// </summary>
public sealed partial class SiloJoining(
    IGrainFactory grains,
    ILocalSiloDetails silo,
    IHostApplicationLifetime lifetime,
    ComputeScheduler compute,
    Microsoft.Extensions.Options.IOptions<SiloJoiningOptions> options,
    ILogger<SiloJoining> logger) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _spreading = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.SpreadOnJoin)
        {
            _spreading = Task.Run(() => SpreadAsync(_stopping.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _spreading.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task SpreadAsync(CancellationToken stopping)
    {
        try
        {
            await compute.WarmUpAsync().WaitAsync(stopping);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogNoRuns(e.Message);
            return;
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            try
            {
                await started.Task.WaitAsync(stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        var address = silo.SiloAddress.ToParsableString();
        await ActiveRuns.AskEachAsync(
            grains, run => run.SpreadAsync(address), stopping,
            runs => LogAsking(runs.Count, string.Join(", ", runs)), LogSpread, LogNotSpread, LogNoRuns);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Joined: asking {Count} active run(s) to re-place their stages: {Runs}")]
    private partial void LogAsking(int count, string runs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Joined: run {Run} re-placed its stages at step {Step}")]
    private partial void LogSpread(string run, long step);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Joined: run {Run} did not re-place its stages ({Error}); it keeps them where they are")]
    private partial void LogNotSpread(string run, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Joined: the active runs could not be listed, or libtorch not loaded ({Error}); none was asked to re-place its stages")]
    private partial void LogNoRuns(string error);
}
