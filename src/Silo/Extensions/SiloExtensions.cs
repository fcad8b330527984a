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

        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = settings.ShutdownTimeout);
        builder.UseOrleans(silo => silo.ConfigureInsideLlms(settings));
        builder.AddApiAccess();
        builder.AddApiAdmission();
        builder.AddSiloHealthChecks();
        builder.Logging.AddFilter("Polly", LogLevel.Warning);

        // The bus registers the real event publisher first: AddTrainingServices only fills in what is still missing.
        builder.AddTrainingBus();
        builder.Services.AddTrainingServices(builder.Configuration);
        builder.AddTrainingTelemetry();
        builder.Services.Configure<TrainingSupervisorOptions>(builder.Configuration.GetSection(TrainingSupervisorOptions.Section));
        builder.Services.AddHostedService<TrainingSupervisor>();
        builder.Services.Configure<SiloLeavingOptions>(builder.Configuration.GetSection(SiloLeavingOptions.Section));
        builder.Services.AddHostedService<SiloLeaving>(); // after the silo: stops first, while the grains still answer
        builder.Services.Configure<SiloJoiningOptions>(builder.Configuration.GetSection(SiloJoiningOptions.Section));
        builder.Services.AddHostedService<SiloJoining>(); // after the silo: starts once it has joined the cluster
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
                silo.ConfigureEndpoints(settings.AdvertisedAddress, settings.SiloPort, settings.GatewayPort,
                    listenOnAnyHostAddress: !IPAddress.IsLoopback(settings.AdvertisedAddress));
                break;
            case ClusteringKind.Kubernetes:
                var pod = settings.Pod ?? throw new InvalidOperationException("Kubernetes clustering needs the pod's identity (SiloSettings.Pod).");
                silo.UseRedisClustering(options => options.ConfigurationOptions = ConfigurationOptions.Parse(settings.RedisConnectionString));
                // Names the silo after its pod and deletes pods of silos the cluster declared dead (the Role's verbs). It reads
                // POD_NAME, POD_IP, POD_NAMESPACE and the ids from the process environment, as SiloSettings did.
                silo.UseKubernetesHosting();
                // Other pods reach this one at its pod IP; it listens on every interface of its own network namespace.
                silo.ConfigureEndpoints(pod.Ip, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: true);
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
        app.UseApiAccess();
        app.UseApiAdmission();
        app.MapSiloHealthEndpoints();
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
        var clustering = settings.Clustering switch
        {
            ClusteringKind.Redis => $"Clustering: redis at {settings.RedisConnectionString}",
            ClusteringKind.Kubernetes => $"Clustering: kubernetes (pod {settings.Pod?.Name} at {settings.Pod?.Ip}), membership in redis at {settings.RedisConnectionString}",
            _ => $"Primary silo: 127.0.0.1:{settings.PrimaryPort}",
        };
        var gatewayHost = settings.Pod?.Ip.ToString() ?? settings.AdvertisedAddress.ToString();
        var instance = settings.Instance is { } n ? $" Instance {n}." : "";
        Console.WriteLine(
            $"InsideLLMs silo ready.{instance} Web: {urls}. Silo port: {settings.SiloPort}. Client gateway: {gatewayHost}:{settings.GatewayPort}. " +
            $"{clustering}. Storage: {settings.Storage.ToString().ToLowerInvariant()}.");
        var admission = app.Services.GetRequiredService<AdmissionOptions>();
        Console.WriteLine(
            $"Admits: runs up to {StageMemory.Format(admission.MemoryBudgetBytes)} a silo (Compute:MemoryBudget), {admission.MaxActiveRuns} active run(s), " +
            $"{admission.MaxSessions} generation sessions a version; corpora: the built-in one" +
            (admission.DataDirectory is { } directory ? $" and files in {directory} (Data:Directory)." : " only (set Data:Directory for files)."));
        var exposure = app.Services.GetRequiredService<WebExposure>();
        Console.WriteLine(exposure.BeyondLoopback
            ? "Web port beyond loopback: API changes need 'Authorization: Bearer <Api:Token>'; the Orleans dashboard is not served."
            : "Web port on loopback only: the API is open to this machine" +
              (string.IsNullOrWhiteSpace(app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiOptions>>().Value.Token) ? "." : "; API changes need the token (Api:Token is set)."));
    }
}
