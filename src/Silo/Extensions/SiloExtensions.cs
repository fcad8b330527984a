using System.Net;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Silo.Training;
using Orleans.Dashboard;
using Orleans.Configuration;
using StackExchange.Redis;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>Silo wiring. Defaults are the one-command local start: localhost clustering, in-memory everything.</summary>
public static class SiloExtensions
{
    /// <summary>
    /// Everything a silo runs: Orleans (clustering and grain storage by configuration), the training grains' services,
    /// the bus, metrics and the training supervisor. <paramref name="args"/> adds <c>--instance N</c>.
    /// </summary>
    public static WebApplicationBuilder AddInsideLlmsSilo(this WebApplicationBuilder builder, string[]? args = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (args is { Length: > 0 })
        {
            builder.Configuration.AddCommandLine(args, SiloSettings.SwitchMappings.ToDictionary());
        }

        var settings = SiloSettings.From(builder.Configuration);
        builder.Services.AddSingleton(settings);
        if (settings.WebUrl is not null)
        {
            builder.WebHost.UseUrls(settings.WebUrl);
        }

        builder.UseOrleans(silo => silo.ConfigureInsideLlms(settings));
        builder.AddApiAdmission();
        builder.Logging.AddFilter("Polly", LogLevel.Warning);

        // The bus registers the real event publisher first: AddTrainingServices only fills in what is still missing.
        builder.AddTrainingBus();
        builder.Services.AddTrainingServices(builder.Configuration);
        builder.AddTrainingTelemetry();
        builder.Services.Configure<TrainingSupervisorOptions>(builder.Configuration.GetSection(TrainingSupervisorOptions.Section));
        builder.Services.AddHostedService<TrainingSupervisor>();
        builder.AddWalkthroughPage();
        return builder;
    }

    /// <summary>Clustering, cluster identity and the <see cref="TrainingStorage.ProviderName"/> grain storage.</summary>
    public static ISiloBuilder ConfigureInsideLlms(this ISiloBuilder silo, SiloSettings settings)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(settings);
        silo.AddDashboard();
        switch (settings.Clustering)
        {
            case ClusteringKind.Redis:
                silo.UseRedisClustering(options => options.ConfigurationOptions = ConfigurationOptions.Parse(settings.RedisConnectionString));
                silo.ConfigureEndpoints(IPAddress.Loopback, settings.SiloPort, settings.GatewayPort);
                break;
            default:
                silo.UseLocalhostClustering(
                    siloPort: settings.SiloPort,
                    gatewayPort: settings.GatewayPort,
                    primarySiloEndpoint: new IPEndPoint(IPAddress.Loopback, settings.PrimaryPort),
                    serviceId: settings.ServiceId,
                    clusterId: settings.ClusterId);
                break;
        }

        silo.Configure<ClusterOptions>(cluster =>
        {
            cluster.ClusterId = settings.ClusterId;
            cluster.ServiceId = settings.ServiceId;
        });

        switch (settings.Storage)
        {
            case StorageKind.Redis:
                silo.AddRedisGrainStorage(TrainingStorage.ProviderName, options => options
                    .Configure(redis => redis.ConfigurationOptions = ConfigurationOptions.Parse(settings.RedisConnectionString))
                    .UseOrleansStateSerializer());
                break;
            default:
                silo.AddMemoryGrainStorage(TrainingStorage.ProviderName, options => options.UseOrleansStateSerializer());
                break;
        }

        return silo;
    }

    public static WebApplication MapSiloEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseApiAdmission();
        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        var api = app.MapGroup("").WithTextLimit();
        api.MapTrainingApi();
        api.MapClusterApi();
        api.MapInferenceApi();
        api.MapRlhfApi();
        app.MapWalkthroughPage();
        return app;
    }

    /// <summary>Prints where this silo listens: its web port, the silo-to-silo port, the client gateway and how it clusters.</summary>
    public static void ReportListeningAddresses(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var settings = app.Services.GetRequiredService<SiloSettings>();
        var urls = string.Join(", ", app.Urls);
        var clustering = settings.Clustering == ClusteringKind.Redis
            ? $"Clustering: redis at {settings.RedisConnectionString}"
            : $"Primary silo: 127.0.0.1:{settings.PrimaryPort}";
        var instance = settings.Instance is { } n ? $" Instance {n}." : "";
        Console.WriteLine(
            $"InsideLLMs silo ready.{instance} Web: {urls}. Silo port: {settings.SiloPort}. Client gateway: 127.0.0.1:{settings.GatewayPort}. " +
            $"{clustering}. Storage: {settings.Storage.ToString().ToLowerInvariant()}.");
        var admission = app.Services.GetRequiredService<AdmissionOptions>();
        Console.WriteLine(
            $"Admits: runs up to {StageMemory.Format(admission.MemoryBudgetBytes)} a silo (Compute:MemoryBudget), {admission.MaxActiveRuns} active run(s), " +
            $"{admission.MaxSessions} generation sessions a version; corpora: the built-in one" +
            (admission.DataDirectory is { } directory ? $" and files in {directory} (Data:Directory)." : " only (set Data:Directory for files)."));
    }
}
