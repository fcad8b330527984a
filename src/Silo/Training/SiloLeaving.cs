using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Silo.Training;

public sealed class SiloLeavingOptions
{
    public const string Section = "Training";

    /// <summary>
    /// How long a stopping silo waits for the active runs to checkpoint before it leaves: one step of a large run, with
    /// room to spare, and below the host's shutdown timeout (30 s by default), which bounds the wait anyway.
    /// </summary>
    public double LeaveCheckpointSeconds { get; set; } = 20;
}

/// <summary>
/// A silo told to stop (SIGTERM: Kubernetes scaling in, a rolling update, Ctrl+C) first has every active run save a
/// checkpoint at the end of the step in flight (every PPO run at the end of its iteration in flight: it then goes on, and
/// a call to a grain that was here fails it back to that checkpoint, on the silos that remain), and only then lets the silo leave. Each run then holds its next step
/// until this silo is gone and starts its stages again from that checkpoint on the silos that remain: no completed step
/// is lost, none is computed twice, and the stages here are idle, so the silo leaves without waiting for them.
/// Registered after the silo, so it stops before the silo does, while the grains still answer.
/// </summary>
public sealed partial class SiloLeaving(
    IGrainFactory grains, ILocalSiloDetails silo, Microsoft.Extensions.Options.IOptions<SiloLeavingOptions> options, ILogger<SiloLeaving> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(TimeSpan.FromSeconds(Math.Max(0.1, options.Value.LeaveCheckpointSeconds)));
        var leaving = silo.SiloAddress.ToParsableString();
        await Task.WhenAll(
            ActiveRuns.AskEachAsync(
                grains, run => run.CheckpointNowAsync(leaving), bounded.Token, _ => { }, LogCheckpointed, LogNotCheckpointed, LogNoRuns),
            ActiveRuns.AskEachAsync(
                grains, PpoNames.RegistryKey, async run => await grains.GetGrain<IPpoRunGrain>(run).CheckpointNowAsync(), bounded.Token,
                _ => { }, LogPpoCheckpointed, LogPpoNotCheckpointed, LogNoRuns));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Leaving: PPO run {Run} checkpointed at iteration {Iteration} before this silo goes")]
    private partial void LogPpoCheckpointed(string run, long iteration);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leaving: PPO run {Run} did not checkpoint before this silo goes ({Error}); it will go back to its last checkpoint")]
    private partial void LogPpoNotCheckpointed(string run, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Leaving: run {Run} checkpointed at step {Step} before this silo goes")]
    private partial void LogCheckpointed(string run, long step);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leaving: run {Run} did not checkpoint before this silo goes ({Error}); it will roll back to its last checkpoint")]
    private partial void LogNotCheckpointed(string run, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leaving: the active runs could not be listed ({Error}); none was asked to checkpoint")]
    private partial void LogNoRuns(string error);
}
