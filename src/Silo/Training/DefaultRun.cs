using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Silo.Extensions;
using Microsoft.Extensions.Options;

namespace InsideLLMs.Distributed.Silo.Training;

/// <summary>The run the one-command start trains by itself, so the page has real numbers with nothing typed.</summary>
public sealed class DefaultRunOptions
{
    public const string Section = "Training";

    /// <summary>Start the default run when no run of that id exists. Null: on for the one-command start (localhost
    /// clustering, no <c>--instance</c>), off for every other silo.</summary>
    public bool? AutoStart { get; set; }

    public string RunId { get; set; } = "default";

    public int Stages { get; set; } = 2;

    public int Replicas { get; set; } = 2;

    /// <summary>Micro-batches per replica, so the pipeline overlaps its stages (one micro-batch would leave half of it idle).</summary>
    public int MicroBatches { get; set; } = 4;

    /// <summary>Rows per micro-batch: 4 x 4 micro-batches x 2 replicas is 32 rows a step, what 16 rows x 2 replicas would be.</summary>
    public int BatchSize { get; set; } = 4;

    /// <summary>The version published from the run, so generation and the inspectors have a model to serve.</summary>
    public string Version { get; set; } = "base";

    /// <summary>Republish the version this often while the run trains (and once when it ends).</summary>
    public int PublishEverySeconds { get; set; } = 30;

    public bool Enabled(SiloSettings settings) => AutoStart ?? (settings.Clustering == ClusteringKind.Localhost && settings.Instance is null);

    /// <summary>The default model and data (the synthetic preset's), split over <see cref="Stages"/> x <see cref="Replicas"/>.</summary>
    public TrainingRunSpec Spec() => new() { Stages = Stages, Replicas = Replicas, MicroBatches = MicroBatches, BatchSize = BatchSize };
}

/// <summary>
/// Starts the default run when none exists, then publishes its weights as a version: after the first step, every
/// <see cref="DefaultRunOptions.PublishEverySeconds"/> while it trains, and once at the end.
/// </summary>
public sealed partial class DefaultRunStarter(
    IGrainFactory grains,
    SiloSettings settings,
    IOptions<DefaultRunOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<DefaultRunStarter> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.Enabled(settings))
        {
            return;
        }

        await WhenStartedAsync(stoppingToken);
        var run = grains.GetGrain<ITrainingRunGrain>(o.RunId);
        try
        {
            var status = await run.GetStatusAsync();
            if (status.Phase == RunPhase.NotStarted)
            {
                await run.StartAsync(o.Spec());
                LogStarted(o.RunId, o.Stages, o.Replicas);
            }

            long published = -1;
            var lastPublish = DateTimeOffset.MinValue;
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    status = await run.GetStatusAsync();
                    var active = status.Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering;
                    var due = published < 1 || DateTimeOffset.UtcNow - lastPublish >= TimeSpan.FromSeconds(o.PublishEverySeconds) || !active;
                    if (status.Step >= 1 && status.Step != published && due)
                    {
                        var version = await grains.GetGrain<IModelVersionGrain>(o.Version).PublishAsync(o.RunId);
                        (published, lastPublish) = (version.Step, DateTimeOffset.UtcNow);
                        LogPublished(o.Version, version.Revision, o.RunId, version.Step);
                    }

                    if (!active && status.Step == published)
                    {
                        return;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A publish during a rollback or while a silo is being declared dead fails; the next one is tried later.
                    LogPublishFailed(e, o.Version);
                    lastPublish = DateTimeOffset.UtcNow;
                }

                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogFailed(e, o.RunId);
        }
    }

    private Task WhenStartedAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        return started.Task.WaitAsync(stoppingToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Started the default run '{RunId}' ({Stages} stages x {Replicas} replicas)")]
    private partial void LogStarted(string runId, int stages, int replicas);

    [LoggerMessage(Level = LogLevel.Information, Message = "Published version '{Version}' revision {Revision} from run '{RunId}' at step {Step}")]
    private partial void LogPublished(string version, long revision, string runId, long step);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not publish version '{Version}' this time")]
    private partial void LogPublishFailed(Exception error, string version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The default run '{RunId}' could not be started")]
    private partial void LogFailed(Exception error, string runId);
}
