# The silo image, from `dotnet publish` output (deploy/docker/build-images.sh publishes it and runs this build with the
# publish folder as the context). Publishing, not building, in a container: no SDK image can be pulled on every machine
# this builds on, and the publish step already patches TorchSharp's native wrapper for old libstdc++ (Directory.Build.targets;
# on a base whose libstdc++ has GLIBCXX_3.4.32 the patch changes nothing).
#
# BASE_IMAGE: the official ASP.NET Core runtime by default; deploy/docker/build-base-image.sh makes a local one
# (Debian bookworm + this machine's .NET runtime) where no registry is reachable.
ARG BASE_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0
FROM ${BASE_IMAGE}

# A numeric non-root user, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} insidellms \
 && useradd --system --uid ${APP_UID} --gid ${APP_UID} --home-dir /home/insidellms --create-home --shell /usr/sbin/nologin insidellms

WORKDIR /app
COPY --chown=0:0 . /app

# Listen on every address of the container: the silo then refuses to start unless Api:Token is set (environment
# Api__Token), because a reachable API without a token would let anyone start, stop and publish runs.
ENV Urls=http://0.0.0.0:8080 \
    DOTNET_ENVIRONMENT=Production \
    ASPNETCORE_ENVIRONMENT=Production \
    HOME=/home/insidellms

# 8080: the page, the API and the health probes; 11111: silo to silo; 30000: the client gateway.
EXPOSE 8080 11111 30000

USER ${APP_UID}:${APP_UID}
ENTRYPOINT ["dotnet", "/app/InsideLLMs.Distributed.Silo.dll"]
